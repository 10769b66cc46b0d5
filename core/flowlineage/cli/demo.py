"""``flowlineage demo``: one lineage across Snakemake, Prefect, Nextflow and a plain script.

The demo writes a small project and runs each orchestrator the way a user would (as
subprocesses: the core imports no adapter), all recording into one embedded instance:

1. a Snakemake workflow (``snakemake --logger flowlineage``) cleans ``raw.tsv``;
2. a Nextflow run is ingested from its lineage store and trace (Nextflow cannot run here,
   so the demo ships a small run's records and output files);
3. a tracked Python script merges the Nextflow output;
4. a Prefect flow (``flowlineage_prefect``) reports on the Snakemake and script outputs.

It then prints the upstream lineage of the report, writes ``lineage.html`` into the current
folder (or ``out``) and prints the paths it wrote and commands to explore them.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from textwrap import dedent
from typing import Annotated

import typer

import flowlineage as fl

from ..errors import FlowlineageError
from ..optional import require
from ..plugins import orchestrator_of
from ..render.formats import view_lineage
from ..storage.hashing import hash_file
from .common import progress

SNAKEFILE = """\
rule all:
    input: "results/clean.tsv"

rule clean:
    input: "data/raw.tsv"
    output: "results/clean.tsv"
    shell: "grep -v '^#' {input} > {output}"
"""

RAW_TSV = "# sample counts\ngene\tcount\nTP53\t12\nBRCA1\t7\nMYC\t3\n"
QUANT_TSV = "gene\ttpm\nTP53\t120.5\nBRCA1\t33.0\nMYC\t8.2\n"

MERGE_SCRIPT = """\
import sys
from pathlib import Path

import flowlineage as fl
from flowlineage.adapters import hash_file

quant_path, out_path = Path(sys.argv[1]), Path(sys.argv[2])
with fl.track(params={"min_tpm": 10}):
    quant = fl.Artifact.get(hash=hash_file(quant_path)[0])  # recorded by the Nextflow ingest
    rows = [line.split("\\t") for line in quant.cache().read_text().splitlines()[1:]]
    kept = [f"{gene}\\t{tpm}" for gene, tpm in rows if float(tpm) >= 10]
    out_path.write_text("gene\\ttpm\\n" + "\\n".join(kept) + "\\n")
    fl.Artifact(out_path, key="demo/merged.tsv").save()
"""

PREFECT_FLOW = """\
import json
import sys
from pathlib import Path

from flowlineage_prefect import flow, task


@task
def summarize(clean: Path, merged: Path) -> Path:
    counts = clean.read_text().splitlines()[1:]
    tpm = merged.read_text().splitlines()[1:]
    out = merged.parent / "report.json"
    out.write_text(json.dumps({"genes_counted": len(counts), "genes_expressed": len(tpm)}))
    return out


@flow(name="demo-report")
def report(clean: Path, merged: Path) -> Path:
    return summarize(clean, merged)


if __name__ == "__main__":
    report(Path(sys.argv[1]), Path(sys.argv[2]))
"""


@dataclass
class DemoResult:
    """What the demo made: the report artifact's uid, the lineage text and the HTML file."""

    report_uid: str
    lineage_text: str
    html: Path
    orchestrators: set[str]


def _nextflow_sample(root: Path) -> tuple[Path, Path]:
    """Write a small Nextflow run's lineage store, trace and output; return (store, output)."""
    run_hash = hashlib.md5(b"flowlineage-demo-run").hexdigest()
    task_hash = hashlib.md5(b"flowlineage-demo-quant").hexdigest()
    workdir = root / "work" / task_hash[:2] / task_hash[2:]
    workdir.mkdir(parents=True, exist_ok=True)
    output = workdir / "quant.tsv"
    output.write_text(QUANT_TSV)
    published = root / "results" / "quant.tsv"
    published.parent.mkdir(parents=True, exist_ok=True)
    published.write_text(QUANT_TSV)
    store = root / ".lineage"
    records = {
        run_hash: {"kind": "WorkflowRun", "spec": {
            "workflow": {"scriptFiles": [{"path": str(root / "main.nf"), "checksum": {
                "value": hashlib.md5(b"main.nf").hexdigest(), "algorithm": "nextflow",
                "mode": "standard"}}], "repository": None, "commitId": None},
            "sessionId": "8c1f7b4e-0d0a-4c57-9d55-3f1f4c1d2a10", "name": "demo_quant",
            "params": [], "config": {}}},
        task_hash: {"kind": "TaskRun", "spec": {
            "sessionId": "8c1f7b4e-0d0a-4c57-9d55-3f1f4c1d2a10", "name": "QUANT (demo)",
            "codeChecksum": {"value": hashlib.md5(b"salmon quant").hexdigest(),
                             "algorithm": "nextflow", "mode": "standard"},
            "script": "salmon quant -i index -r reads.fq -o quant", "eval": None, "input": [],
            "container": None, "conda": None, "spack": None, "architecture": None,
            "globalVars": {}, "binEntries": [], "workflowRun": f"lid://{run_hash}",
            "moduleId": None}},
        f"{task_hash}/quant.tsv": {"kind": "FileOutput", "spec": {
            "path": str(output), "checksum": {
                "value": hashlib.md5(QUANT_TSV.encode()).hexdigest(), "algorithm": "nextflow",
                "mode": "standard"},
            "source": f"lid://{task_hash}", "workflowRun": f"lid://{run_hash}",
            "taskRun": f"lid://{task_hash}", "size": len(QUANT_TSV.encode()),
            "createdAt": "2026-11-02T10:15:03.120000+00:00",
            "modifiedAt": "2026-11-02T10:15:03.120000+00:00", "labels": None}},
        # the run's output block published quant.tsv; Nextflow writes <run>#output on completion
        f"{run_hash}/quant.tsv": {"kind": "FileOutput", "spec": {
            "path": str(published), "checksum": {
                "value": hashlib.md5(QUANT_TSV.encode()).hexdigest(), "algorithm": "nextflow",
                "mode": "standard"},
            "source": f"lid://{task_hash}/quant.tsv", "workflowRun": f"lid://{run_hash}",
            "taskRun": None, "size": len(QUANT_TSV.encode()),
            "createdAt": "2026-11-02T10:15:04.010000+00:00",
            "modifiedAt": "2026-11-02T10:15:04.010000+00:00", "labels": None}},
        f"{run_hash}#output": {"kind": "WorkflowOutput", "spec": {
            "createdAt": "2026-11-02T10:15:04.200000+00:00", "workflowRun": f"lid://{run_hash}",
            "output": [{"type": "Path", "name": "quant",
                        "value": f"lid://{run_hash}/quant.tsv"}]}},
    }
    for key, record in records.items():
        folder = store / key
        folder.mkdir(parents=True, exist_ok=True)
        (folder / ".data.json").write_text(json.dumps({"version": "lineage/v1beta1", **record}))
    (store / ".history").mkdir(exist_ok=True)
    (store / ".history" / run_hash).write_text(
        f"2026-11-02 10:14:55 UTC\tdemo_quant\t8c1f7b4e-0d0a-4c57-9d55-3f1f4c1d2a10"
        f"\tlid://{run_hash}\n")
    return store, output


def _run(cmd: list[str], cwd: Path, env: dict[str, str], what: str) -> None:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
        raise FlowlineageError(f"demo step '{what}' failed (exit {proc.returncode}):\n{tail}")


def _tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else name


def run_demo(home: Path, echo: bool = True, out: Path | None = None) -> DemoResult:
    """Run the demo into ``home`` (its FLOWLINEAGE_HOME) and return what it made.

    ``lineage.html`` goes to ``out`` (default: the current folder); Prefect keeps its state in
    ``$PREFECT_HOME`` when set, else in ``home/prefect``.
    """

    require("snakemake", "snakemake")
    require("prefect", "prefect")
    home = home.resolve()
    project = home / "demo-project"
    (project / "snakemake" / "data").mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("FLOWLINEAGE_", "PREFECT_"))}
    prefect_home = os.environ.get("PREFECT_HOME") or str(home / "prefect")
    env |= {"FLOWLINEAGE_HOME": str(home), "PREFECT_HOME": prefect_home,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false", "PYTHONUNBUFFERED": "1",
            # Prefect's temporary local server; a loaded machine may need more than 20 s
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "180"}

    def say(message: str) -> None:
        if echo:
            print(message, flush=True)

    with progress("demo", total=4) as update:
        def step(message: str) -> None:  # the next step begins: the one before is done
            say(message)
            update(advance=int(not message.startswith("1/")),
                   description=message.split(":", 1)[0])

        step("1/4 Snakemake: cleaning raw counts (snakemake --logger flowlineage)")
        (project / "snakemake" / "Snakefile").write_text(SNAKEFILE)
        (project / "snakemake" / "data" / "raw.tsv").write_text(RAW_TSV)
        _run([_tool("snakemake"), "--logger", "flowlineage", "-j", "1", "--quiet", "progress"],
             project / "snakemake", env, "snakemake")
        clean = project / "snakemake" / "results" / "clean.tsv"

        step("2/4 Nextflow: ingesting a run's lineage store (flowlineage nextflow "
             "ingest-lineage)")
        store, quant = _nextflow_sample(project / "nextflow")
        _run([_tool("flowlineage"), "nextflow", "ingest-lineage", str(store)], project, env,
             "nextflow ingest-lineage")

        step("3/4 Python: a tracked script merges the Nextflow quantification")
        (project / "merge.py").write_text(MERGE_SCRIPT)
        merged = project / "merged.tsv"
        _run([sys.executable, "merge.py", str(quant), str(merged)], project, env,
             "tracked script")

        step("4/4 Prefect: a flow reports on both (flowlineage_prefect)")
        (project / "report_flow.py").write_text(PREFECT_FLOW)
        report = project / "report.json"
        _run([sys.executable, "report_flow.py", str(clean), str(merged)], project, env,
             "prefect flow")
        update()

    previous = os.environ.get("FLOWLINEAGE_HOME")
    os.environ["FLOWLINEAGE_HOME"] = str(home)
    try:
        fl.connect()
        final = fl.Artifact.get(hash=hash_file(report)[0])
        lineage = final.upstream()
        orchestrators = {orchestrator_of(r.reference_type, r.transform.key)
                         for r in lineage.run_list}
        text = view_lineage(final, "text")
        html = (out or Path.cwd()).resolve() / "lineage.html"
        html.parent.mkdir(parents=True, exist_ok=True)
        view_lineage(final, "html", html)
        fl.disconnect()
    finally:
        if previous is None:
            os.environ.pop("FLOWLINEAGE_HOME", None)
        else:
            os.environ["FLOWLINEAGE_HOME"] = previous
    say(dedent(f"""
        Upstream lineage of {report.name} (artifact {final.uid}):
    """))
    say(text)
    say(f"\norchestrators in this lineage: {', '.join(sorted(orchestrators))}")
    say(_explore(home, project, html, final.uid))
    return DemoResult(final.uid, text, html, orchestrators)


def _explore(home: Path, project: Path, html: Path, uid: str) -> str:
    """The paths the demo wrote and the commands to explore them."""
    current = os.environ.get("FLOWLINEAGE_HOME")
    same = current is not None and Path(current).expanduser().resolve() == home
    export = "" if same else f"\n  export FLOWLINEAGE_HOME={home}"
    return (f"\nwrote:\n  {html}  (open it in a browser)\n"
            f"  {home}  (the lineage store: FLOWLINEAGE_HOME)\n"
            f"  {project}  (the demo's workflows and their files)\n"
            f"explore:{export}\n"
            f"  flowlineage lineage {uid}\n"
            f"  flowlineage lineage {uid} --format html -o lineage.html\n"
            f"  flowlineage runs list\n"
            f"  flowlineage ui  (then open http://127.0.0.1:8765/artifacts/{uid} in a browser)")


def demo_cmd(
    home: Annotated[Path | None, typer.Option(
        "--home", help="FLOWLINEAGE_HOME for the demo (default: $FLOWLINEAGE_HOME if set, "
        "else a new temporary folder).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Folder for lineage.html (default: the current folder).")] = None,
) -> None:
    """Run Snakemake, Nextflow, a tracked script and Prefect into one lineage, offline."""
    env_home = os.environ.get("FLOWLINEAGE_HOME")
    target = home or (Path(env_home).expanduser() if env_home else None) or Path(
        tempfile.mkdtemp(prefix="flowlineage-demo-"))
    run_demo(target, out=out)

"""Snakemake outputs by path: every output resolves to the job run that wrote it, copies
included, and ``flowlineage status`` flags an output edited afterwards."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import flowlineage as fl
from flowlineage.db.engine import Instance

from .smk_helpers import Runner

FLOWLINEAGE = Path(sys.executable).with_name("flowlineage")
SNAKEFILE = """\
rule all:
    input: "copy/raw.txt", "split/upper.txt", "split/lower.txt"

rule make:
    output: "raw.txt"
    shell: "printf 'Some Text\\\\n' > {output}"

rule copy:
    input: "raw.txt"
    output: "copy/raw.txt"
    shell: "cp {input} {output}"

rule split:
    input: "raw.txt"
    output: "split/upper.txt", "split/lower.txt"
    shell: "tr a-z A-Z < {input} > {output[0]}; tr A-Z a-z < {input} > {output[1]}"
"""


def test_every_output_resolves_to_the_job_that_wrote_it(
        instance: Instance, tmp_path: Path, run_snakemake: Runner) -> None:
    workdir = tmp_path / "wf"
    workdir.mkdir()
    (workdir / "Snakefile").write_text(SNAKEFILE)
    run_snakemake(workdir)

    (inv,) = fl.Run.filter(reference_type="snakemake_workflow").all()
    jobs = {r.name: r for r in fl.Run.filter(initiated_by_run_id=inv.id).all()}
    writers = {"raw.txt": "make", "copy/raw.txt": "copy", "split/upper.txt": "split",
               "split/lower.txt": "split"}
    for rel, rule in writers.items():
        art = fl.Artifact.get(path=workdir / rel)
        assert art.matched_by == "location"
        (loc,) = [loc for loc in art.locations if loc.path == str(workdir / rel)]
        writer = loc.run
        assert writer is not None and writer.id == jobs[rule].id, rel
        assert writer.initiated_by_run_id == inv.id
        assert loc.state() == "unchanged"

    raw = fl.Artifact.get(path=workdir / "raw.txt")
    copy = fl.Artifact.get(path=workdir / "copy/raw.txt")
    assert copy.id == raw.id  # identical bytes: one artifact, two places
    assert raw.run_id == jobs["make"].id
    assert [r.id for r in raw.recreating_runs] == [jobs["copy"].id]
    assert {loc.path for loc in raw.locations} >= {str(workdir / "raw.txt"),
                                                   str(workdir / "copy/raw.txt")}

    status = [str(FLOWLINEAGE), "status"]
    clean = subprocess.run(status, cwd=workdir, capture_output=True, text=True)
    assert clean.returncode == 0, clean.stderr
    assert "unchanged   copy/raw.txt  snakemake copy" in clean.stdout
    (workdir / "split" / "upper.txt").write_text("edited by hand\n")
    drift = subprocess.run([*status, "split"], cwd=workdir, capture_output=True, text=True)
    assert drift.returncode == 1
    assert drift.stdout.splitlines()[1].startswith("modified    split/upper.txt")

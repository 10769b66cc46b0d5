"""Helpers of the Snakemake adapter tests (a workflow to run and the ``snakemake`` binary)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import flowlineage as fl

SNAKEMAKE = Path(sys.executable).with_name("snakemake")
SNAKEFILE = """\
configfile: "config.yaml"
SAMPLES = config["samples"]

rule all:
    input: "results/report.txt"

rule upper:
    input: "data/{sample}.txt"
    output: "work/{sample}.upper"
    log: "logs/upper_{sample}.log"
    shell: "tr a-z A-Z < {input} > {output}; echo upper {wildcards.sample} > {log}"

rule count:
    input: "work/{sample}.upper"
    output: "work/{sample}.count"
    threads: 2
    resources: mem_mb=10
    shell: "printf '%s %s\\\\n' {wildcards.sample} $(wc -c < {input}) > {output}"

rule merge:
    input: expand("work/{sample}.count", sample=SAMPLES)
    output: "results/merged.txt"
    benchmark: "benchmarks/merge.tsv"
    shell: "cat {input} > {output}"

rule report:
    input: "results/merged.txt"
    output: "results/report.txt"
    params: greeting=config["greeting"]
    shell: "(echo {params.greeting}; sort -r {input}) > {output}"
"""

Runner = Callable[..., subprocess.CompletedProcess[str]]


def write_workflow(workdir: Path, samples: list[str], snakefile: str = SNAKEFILE) -> Path:
    """Write the Snakefile, its config and one input file per sample."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "Snakefile").write_text(snakefile)
    names = ", ".join(samples)
    (workdir / "config.yaml").write_text(f"samples: [{names}]\ngreeting: hello\n")
    (workdir / "data").mkdir(exist_ok=True)
    for s in samples:
        (workdir / "data" / f"{s}.txt").write_text(f"sample {s}\n" * 3)
    return workdir


def invocations() -> list[fl.Run]:
    return fl.Run.filter(reference_type="snakemake_workflow").order_by("id").all()


def jobs_of(invocation: fl.Run) -> dict[str, fl.Run]:
    """The job runs of an invocation by name (``count[sample=a]``)."""
    runs = fl.Run.filter(initiated_by_run_id=invocation.id, reference_type="snakemake_job")
    return {r.name or "": r for r in runs.all()}


def keys(artifacts: list[fl.Artifact]) -> set[str]:
    return {a.key or "" for a in artifacts}

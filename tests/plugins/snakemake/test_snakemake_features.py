"""Checkpoints, folder outputs, rule params, environments and failure reports of real runs."""

from __future__ import annotations

from pathlib import Path

import flowlineage as fl
from flowlineage.db.engine import Instance

from .smk_helpers import Runner, invocations, jobs_of, keys

# in the style of Snakemake's tests/test_checkpoints: a checkpoint writes a directory()
# whose files decide, once it ran, which jobs the aggregation needs
CHECKPOINT_SNAKEFILE = """\
import os

rule all:
    input: expand("aggregated/{sample}.txt", sample=["a", "b"])

checkpoint clustering:
    input: "samples/{sample}.txt"
    output: clusters=directory("clustering/{sample}")
    shell: "mkdir {output}; for i in 1 2 3; do echo {wildcards.sample}$i > {output}/$i.txt; done"

rule intermediate:
    input: "clustering/{sample}/{i}.txt"
    output: "post/{sample}/{i}.txt"
    shell: "cp {input} {output}"

rule shout:
    input: "post/{sample}/{i}.txt"
    output: "loud/{sample}/{i}.txt"
    shell: "tr a-z A-Z < {input} > {output}"

def aggregate_input(wildcards):
    out = checkpoints.clustering.get(**wildcards).output[0]
    ids = glob_wildcards(os.path.join(out, "{i}.txt")).i
    return expand("loud/{sample}/{i}.txt", sample=wildcards.sample, i=ids)

rule aggregate:
    input: aggregate_input
    output: "aggregated/{sample}.txt"
    shell: "cat {input} > {output}"
"""


def test_checkpoint_lineage(instance: Instance, tmp_path: Path, run_snakemake: Runner) -> None:
    workdir = tmp_path / "wf"
    (workdir / "samples").mkdir(parents=True)
    (workdir / "Snakefile").write_text(CHECKPOINT_SNAKEFILE)
    for s in "ab":
        (workdir / "samples" / f"{s}.txt").write_text(f"sample {s}\n")
    run_snakemake(workdir, cores=2)

    (inv,) = invocations()
    jobs = jobs_of(inv)
    assert inv.status == "completed" and {r.status for r in jobs.values()} == {"completed"}
    for job in jobs.values():  # no job lists what it made itself as its input
        made = {a.id for a in job.output_artifacts.all()}
        assert not made & {a.id for a in job.input_artifacts.all()}, job.name
    # the workflow's outside inputs are the samples, never files its own jobs wrote
    assert keys(inv.input_artifacts.all()) == {"samples/a.txt", "samples/b.txt"}

    # the checkpoint's folder is recorded without Snakemake's timestamp file, and the files
    # in it that later jobs read are recorded as the checkpoint's outputs
    assert (workdir / "clustering" / "a" / ".snakemake_timestamp").exists()
    checkpoint = jobs["clustering[sample=a]"]
    assert keys(checkpoint.output_artifacts.all()) == {
        "clustering/a", "clustering/a/1.txt", "clustering/a/2.txt", "clustering/a/3.txt"}
    assert fl.Artifact.get(key="clustering/a").n_files == 3
    copy = jobs["intermediate[sample=a,i=1]"]  # cp: its output is its input's bytes
    assert keys(copy.input_artifacts.all()) == {"clustering/a/1.txt"}
    assert [r.id for r in fl.Artifact.get(key="clustering/a/1.txt").recreating_runs.all()] == [
        copy.id]
    assert keys(jobs["shout[sample=a,i=1]"].input_artifacts.all()) == {"clustering/a/1.txt"}

    # the aggregation links back through the checkpoint to the sample it split
    lineage = fl.Artifact.get(key="aggregated/a.txt").upstream()
    run_ids = {r.id for r in lineage.run_list}
    assert {checkpoint.id, jobs["aggregate[sample=a]"].id, jobs["shout[sample=a,i=2]"].id} <= (
        run_ids)
    assert jobs["clustering[sample=b]"].id not in run_ids
    assert {"samples/a.txt", "clustering/a/1.txt", "loud/a/1.txt"} <= keys(lineage.artifact_list)


DETAILS_SNAKEFILE = """\
rule all:
    input: "out.txt", "fails.txt"

rule make:
    output: "out.txt"
    params: level=3, names=["x", "y"], path=lambda wc, output: output[0] + ".tmp"
    threads: 1
    resources: mem_mb=64
    benchmark: "bench/make.tsv"
    conda: "envs/tools.yaml"
    container: "docker://alpine:3.20"
    envmodules: "gcc/12", "samtools/1.20"
    shell: "echo {params.level} > {output}"

rule fails:
    output: "fails.txt"
    log: "logs/fails.log"
    shell: "(echo starting; echo something went wrong) > {log}; exit 7"
"""


def test_params_environment_and_failure_report(instance: Instance, tmp_path: Path,
                                               run_snakemake: Runner) -> None:
    workdir = tmp_path / "wf"
    (workdir / "envs").mkdir(parents=True)
    (workdir / "Snakefile").write_text(DETAILS_SNAKEFILE)
    (workdir / "envs" / "tools.yaml").write_text("dependencies:\n  - coreutils\n")
    proc = run_snakemake(workdir, "--keep-going", check=False)
    assert proc.returncode == 1

    jobs = jobs_of(invocations()[0])
    make = jobs["make"]
    params = make.params or {}
    assert params["params"] == {"level": 3, "names": ["x", "y"], "path": "out.txt.tmp"}
    assert (params["threads"], params["resources"]["mem_mb"]) == (1, 64)
    bench = fl.Artifact.get(key="bench/make.tsv")
    assert (bench.kind, bench.run_id) == ("benchmark", make.id)
    env = make.environment
    assert env is not None and (env.key, env.kind) == ("envs/tools.yaml", "environment")
    assert make.features.get_values() == {
        "container_image": "docker://alpine:3.20", "envmodules": "gcc/12,samtools/1.20",
        "conda_env": "envs/tools.yaml"}
    assert make.report is None

    failed = jobs["fails"]
    assert failed.status == "errored"
    assert failed.features.get_values() == {"exit_code": 7}
    report = failed.report
    assert report is not None and report.kind == "report" and report.run_id == failed.id
    text = Path(report.cache()).read_text()
    assert "exit code: 7" in text
    assert text.rstrip().endswith("starting\nsomething went wrong")


FEATURES_SNAKEFILE = """\
ruleorder: fancy > plain

rule all:
    input: "final.txt", "broken.txt"

rule fancy:
    output: "made.txt"
    shell: "echo fancy > {output}"

rule plain:
    output: "made.txt"
    shell: "echo plain > {output}"

rule split:
    input: "made.txt"
    output: expand("part_{n}.txt", n=[1, 2]), stats=protected("stats.txt")
    run:
        for i, path in enumerate(output[:2], 1):
            with open(path, "w") as f:
                f.write(f"part {i}\\n")
        with open(output.stats, "w") as f:
            f.write("2 parts\\n")

rule scratch:
    input: lambda wildcards: ["part_1.txt", "part_2.txt"]
    output: temp("scratch.txt")
    shell: "cat {input} > {output}"

rule final:
    input: "scratch.txt", "stats.txt"
    output: "final.txt"
    # the writer hashes temp() outputs in another process, as soon as their job ends; a
    # consumer that ends at once can let Snakemake delete them first on a loaded machine
    shell: "cat {input} > {output}; sleep 2"

rule broken:
    output: "broken.txt"
    shell: "exit 4"
"""


def test_everyday_features(instance: Instance, tmp_path: Path, run_snakemake: Runner) -> None:
    """ruleorder, input functions, run: blocks, several outputs per job, temp() and
    protected() outputs and a failing rule: every output is recorded with its job."""
    workdir = tmp_path / "wf"
    workdir.mkdir()
    (workdir / "Snakefile").write_text(FEATURES_SNAKEFILE)
    proc = run_snakemake(workdir, "--keep-going", check=False)
    assert proc.returncode == 1 and not (workdir / "scratch.txt").exists()

    jobs = jobs_of(invocations()[0])
    assert set(jobs) == {"fancy", "split", "scratch", "final", "broken"}
    made = {"fancy": {"made.txt"}, "split": {"part_1.txt", "part_2.txt", "stats.txt"},
            "scratch": {"scratch.txt"}, "final": {"final.txt"}}
    for rule, outputs in made.items():
        assert jobs[rule].status == "completed"
        assert keys(jobs[rule].output_artifacts.all()) == outputs, rule
    assert keys(jobs["scratch"].input_artifacts.all()) == {"part_1.txt", "part_2.txt"}
    assert keys(jobs["final"].input_artifacts.all()) == {"scratch.txt", "stats.txt"}
    broken = jobs["broken"]
    assert broken.status == "errored" and broken.features.get_values() == {"exit_code": 4}
    lineage = fl.Artifact.get(key="final.txt").upstream()
    assert {"made.txt", "part_1.txt", "scratch.txt"} <= keys(lineage.artifact_list)


def test_jobs_through_an_executor_plugin(instance: Instance, workflow: Path,
                                         run_snakemake: Runner) -> None:
    """cluster-generic with a submit script that runs each job script in the background:
    the jobs are recorded like local ones, and the per-job Snakemake processes record no
    workflow runs of their own."""
    submit = workflow / "submit.sh"
    submit.write_text('#!/bin/bash\nbash "$1" > "$1.out" 2>&1 &\necho $!\n')
    submit.chmod(0o755)
    run_snakemake(workflow, "--executor", "cluster-generic", "--cluster-generic-submit-cmd",
                  str(submit), "--jobs", "2", "--seconds-between-status-checks", "1",
                  "--latency-wait", "5")

    (inv,) = invocations()
    jobs = jobs_of(inv)
    assert inv.status == "completed" and {r.status for r in jobs.values()} == {"completed"}
    assert len(jobs) == 9
    assert fl.Artifact.get(key="work/a.upper").run_id == jobs["upper[sample=a]"].id
    assert keys(jobs["merge"].input_artifacts.all()) == {f"work/{s}.count" for s in "abc"}
    assert (jobs["report"].params or {})["params"] == {"greeting": "hello"}

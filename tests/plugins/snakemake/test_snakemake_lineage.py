"""``snakemake --logger flowlineage``: runs, artifacts and links of real workflow runs."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import flowlineage as fl
import pytest
from flowlineage.db.engine import Instance
from flowlineage.storage.hashing import hash_file

from .smk_helpers import SNAKEFILE, SNAKEMAKE, Runner, invocations, jobs_of, keys, write_workflow

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_workflow_is_recorded(instance: Instance, workflow: Path, run_snakemake: Runner) -> None:
    run_snakemake(workflow, "--config", "extra=1")

    (inv,) = invocations()
    assert inv.status == "completed" and inv.finished_at is not None
    assert UUID.match(inv.reference or "")
    assert inv.params == {"samples": ["a", "b", "c"], "greeting": "hello", "extra": 1}
    assert "--logger=flowlineage" in (inv.cli_args or "")
    tf = inv.transform
    assert (tf.key, tf.type, tf.source_code) == ("snakemake:Snakefile", "pipeline", SNAKEFILE)

    jobs = jobs_of(inv)
    assert set(jobs) == {"all", "merge", "report"} | {
        f"{rule}[sample={s}]" for rule in ("upper", "count") for s in "abc"}
    assert {r.status for r in jobs.values()} == {"completed"}
    count_a = jobs["count[sample=a]"]
    assert count_a.reference == f"{inv.reference}:{count_a.reference.split(':')[1]}"
    params = count_a.params or {}
    assert (params["wildcards"], params["threads"]) == ({"sample": "a"}, 1)  # 2, scaled to -c1
    assert params["resources"]["mem_mb"] == 10
    assert count_a.cli_args and "wc -c < work/a.upper" in count_a.cli_args
    rule_tf = count_a.transform
    assert (rule_tf.key, rule_tf.type) == ("snakemake:Snakefile:count", "rule")
    assert rule_tf.source_code and rule_tf.source_code.startswith("rule count:\n")
    assert "rule merge" not in rule_tf.source_code
    assert count_a.started_at <= count_a.finished_at  # type: ignore[operator]

    # outputs: registered in place (key = path relative to the workflow directory)
    upper_a = fl.Artifact.get(key="work/a.upper")
    assert upper_a.run_id == jobs["upper[sample=a]"].id
    assert upper_a.hash == hash_file(workflow / "work" / "a.upper")[0]
    assert not upper_a._key_is_virtual
    assert Path(upper_a.path) == workflow / "work" / "a.upper"  # type: ignore[arg-type]
    assert fl.Storage.get(upper_a.storage_id).root == str(workflow.resolve())
    log = fl.Artifact.get(key="logs/upper_a.log")
    assert (log.kind, log.run_id) == ("log", jobs["upper[sample=a]"].id)
    bench = fl.Artifact.get(key="benchmarks/merge.tsv")
    assert (bench.kind, bench.run_id) == ("benchmark", jobs["merge"].id)

    # inputs: the output of one job is the same artifact as the input of the next
    assert [a.id for a in count_a.input_artifacts.all()] == [upper_a.id]
    assert keys(jobs["merge"].input_artifacts.all()) == {f"work/{s}.count" for s in "abc"}
    assert keys(jobs["all"].input_artifacts.all()) == {"results/report.txt"}
    raw = keys(inv.input_artifacts.all())
    assert raw == {"data/a.txt", "data/b.txt", "data/c.txt"}
    assert fl.Artifact.get(key="data/a.txt").run_id is None

    # one upstream query from the final report reaches every job and every input file
    lineage = fl.Artifact.get(key="results/report.txt").upstream()
    assert {r.id for r in lineage.run_list} == {r.id for r in jobs.values() if r.name != "all"} | {
        inv.id}
    assert raw <= keys(lineage.artifact_list)


def test_keep_going_records_the_failure(instance: Instance, tmp_path: Path,
                                        run_snakemake: Runner) -> None:
    workdir = tmp_path / "wf"
    workdir.mkdir()
    (workdir / "Snakefile").write_text(
        'rule all:\n    input: "ok.txt", "after_bad.txt"\n'
        'rule ok:\n    output: "ok.txt"\n    shell: "echo ok > {output}"\n'
        'rule bad:\n    output: "bad.txt"\n    log: "bad.log"\n'
        '    shell: "echo broken > {log}; exit 3"\n'
        'rule after_bad:\n    input: "bad.txt"\n    output: "after_bad.txt"\n'
        '    shell: "cp {input} {output}"\n'
    )
    proc = run_snakemake(workdir, "--keep-going", check=False)
    assert proc.returncode == 1

    (inv,) = invocations()
    assert inv.status == "errored"
    assert "did not complete successfully" in (inv.description or "")
    jobs = jobs_of(inv)
    assert set(jobs) == {"ok", "bad"}  # after_bad and all never ran
    assert jobs["ok"].status == "completed"
    assert keys(jobs["ok"].output_artifacts.all()) == {"ok.txt"}
    bad = jobs["bad"]
    assert bad.status == "errored" and bad.finished_at is not None
    assert "non-zero exit status 3" in (bad.description or "")
    assert sorted((a.key or "", a.kind) for a in bad.output_artifacts.all()) == [
        ("", "report"), ("bad.log", "log")]
    assert bad.report is not None and "exit code: 3" in Path(bad.report.cache()).read_text()
    assert fl.Run.filter(reference_type="snakemake_job", status="errored").count() == 1


@pytest.mark.parametrize("any_instance", ["sqlite", "postgres"], indirect=True)
def test_parallel_jobs(any_instance: Instance, tmp_path: Path, run_snakemake: Runner) -> None:
    samples = [f"s{i}" for i in range(8)]
    workdir = write_workflow(tmp_path / "wf", samples)
    db = [f"--logger-flowlineage-db={any_instance.engine.url.render_as_string(False)}"]
    run_snakemake(workdir, *(db if any_instance.dialect == "postgresql" else []), cores=4)

    (inv,) = invocations()
    jobs = jobs_of(inv)
    assert len(jobs) == 2 * len(samples) + 3
    assert {r.status for r in jobs.values()} == {"completed"}
    merge_inputs = jobs["merge"].input_artifacts.all()
    assert {a.run_id for a in merge_inputs} == {jobs[f"count[sample={s}]"].id for s in samples}
    starts = sorted((r.started_at, r.finished_at) for r in jobs.values())
    overlapping = any(b[0] < a[1] for a, b in zip(starts, starts[1:], strict=False))
    assert overlapping, "with -j 4 some jobs ran at the same time"


def test_reruns(instance: Instance, workflow: Path, run_snakemake: Runner) -> None:
    """Nothing to do: an invocation with no jobs. Edited input: new versions downstream."""
    run_snakemake(workflow)
    artifacts = fl.Artifact.filter().count()
    b_count = fl.Artifact.get(key="work/b.count")
    proc = run_snakemake(workflow)
    assert "Nothing to be done" in proc.stderr
    first, idle = invocations()
    assert idle.reference != first.reference
    assert idle.status == "completed" and jobs_of(idle) == {}
    assert fl.Artifact.filter().count() == artifacts

    (workflow / "data" / "a.txt").write_text("a changed sample\n")
    run_snakemake(workflow)
    edited = invocations()[2]
    jobs = jobs_of(edited)
    assert set(jobs) == {"upper[sample=a]", "count[sample=a]", "merge", "report", "all"}
    for key in ("data/a.txt", "work/a.upper", "work/a.count", "results/merged.txt",
                "results/report.txt"):
        old, new = fl.Artifact.filter(key=key).order_by("uid").all()
        assert old.uid[:16] == new.uid[:16] and old.uid != new.uid, key
        assert (old.is_latest, new.is_latest) == (False, True)
    latest = fl.Artifact.get(key="work/a.upper", is_latest=True)
    assert latest.run_id == jobs["upper[sample=a]"].id
    # b and c were up to date: the same artifacts, consumed by the new merge and invocation
    assert fl.Artifact.filter(key="work/b.count").count() == 1
    assert b_count.id in {a.id for a in jobs["merge"].input_artifacts.all()}
    assert keys(edited.input_artifacts.all()) == {"data/a.txt", "work/b.count", "work/c.count"}


def test_directory_output(instance: Instance, tmp_path: Path, run_snakemake: Runner) -> None:
    workdir = tmp_path / "wf"
    workdir.mkdir()
    (workdir / "Snakefile").write_text(
        'rule all:\n    input: "listing.txt"\n'
        'rule split:\n    output: directory("parts")\n'
        '    shell: "mkdir -p {output}/sub; for i in 1 2 3; do echo $i > {output}/p$i.txt; done;'
        ' echo x > {output}/sub/deep.txt"\n'
        'rule listing:\n    input: "parts"\n    output: "listing.txt"\n'
        '    shell: "ls -R {input} > {output}"\n'
    )
    run_snakemake(workdir)

    parts = fl.Artifact.get(key="parts")
    files = [p for p in (workdir / "parts").rglob("*") if p.is_file()]
    assert (workdir / "parts" / ".snakemake_timestamp") in files  # bookkeeping, not content
    assert parts._hash_type == "blake3-folder" and parts.n_files == len(files) - 1 >= 3
    (inv,) = invocations()
    jobs = jobs_of(inv)
    assert parts.run_id == jobs["split"].id
    assert [a.id for a in jobs["listing"].input_artifacts.all()] == [parts.id]


def test_quiet_mode(instance: Instance, workflow: Path, run_snakemake: Runner) -> None:
    proc = run_snakemake(workflow, "-q", cores=2)
    assert "Finished jobid" not in proc.stderr  # -q hides job_finished events

    (inv,) = invocations()
    assert inv.status == "completed"
    jobs = jobs_of(inv)
    assert len(jobs) == 9
    assert all(r.status == "completed" and r.finished_at for r in jobs.values())
    assert fl.Artifact.get(key="results/report.txt").run_id == jobs["report"].id
    assert keys(jobs["report"].input_artifacts.all()) == {"results/merged.txt"}


def test_quiet_mode_failure(instance: Instance, tmp_path: Path, run_snakemake: Runner) -> None:
    workdir = tmp_path / "wf"
    workdir.mkdir()
    (workdir / "Snakefile").write_text(
        'rule all:\n    input: "a.txt", "b.txt"\n'
        'rule a:\n    output: "a.txt"\n    shell: "echo a > {output}"\n'
        'rule b:\n    output: "b.txt"\n    shell: "exit 1"\n'
    )
    run_snakemake(workdir, "-q", "-k", check=False)

    (inv,) = invocations()
    jobs = jobs_of(inv)
    assert (inv.status, jobs["a"].status, jobs["b"].status) == ("errored", "completed", "errored")


def test_dry_run_records_nothing(fl_home: Path, workflow: Path, run_snakemake: Runner) -> None:
    proc = run_snakemake(workflow, "-n")
    assert "This was a dry-run" in proc.stdout + proc.stderr
    assert not (fl_home / "lineage.db").exists()


def test_unreachable_database_does_not_break_the_workflow(fl_home: Path,
                                                          workflow: Path) -> None:
    proc = subprocess.run(
        [str(SNAKEMAKE), "--logger=flowlineage", "--cores", "1",
         "--logger-flowlineage-db=postgresql+psycopg://127.0.0.1:1/nowhere"],
        cwd=workflow, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert (workflow / "results" / "report.txt").exists()
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("flowlineage:")]
    assert warnings and len(warnings) == len(set(warnings)), proc.stderr  # each said once
    assert "Connection refused" in warnings[-1]


def test_python_api_inside_tracked_run(instance: Instance, workflow: Path) -> None:
    from snakemake.api import SnakemakeApi
    from snakemake.scheduling.greedy import SchedulerSettings
    from snakemake.settings.types import OutputSettings, ResourceSettings, SchedulingSettings
    from snakemake_logger_plugin_flowlineage import LogHandlerSettings

    cwd = os.getcwd()
    with fl.track(transform="driver.py") as driver:
        settings = OutputSettings(log_handler_settings={"flowlineage": LogHandlerSettings()})
        with SnakemakeApi(settings) as api:
            wf = api.workflow(resource_settings=ResourceSettings(cores=2),
                              snakefile=workflow / "Snakefile", workdir=workflow)
            wf.dag().execute_workflow(  # greedy: the ILP scheduler's pulp warns
                scheduling_settings=SchedulingSettings(scheduler="greedy"),
                scheduler_settings=SchedulerSettings())
    assert os.getcwd() == cwd

    (inv,) = invocations()
    assert inv.initiated_by_run_id == driver.id
    assert inv.status == "completed"
    assert len(jobs_of(inv)) == 9
    assert driver.id in {r.id for r in fl.Artifact.get(key="results/report.txt").upstream()
                         .run_list}


def test_tracked_runs_around_the_workflow(instance: Instance, workflow: Path,
                                          run_snakemake: Runner,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """A tracked launcher starts Snakemake (FLOWLINEAGE_PARENT_RUN); a tracked script then
    consumes its output: one upstream query from the script's output crosses all three."""
    with fl.track(transform="launcher.py") as launcher:
        monkeypatch.setenv("FLOWLINEAGE_PARENT_RUN", launcher.uid)
        run_snakemake(workflow)
    monkeypatch.delenv("FLOWLINEAGE_PARENT_RUN")
    (inv,) = invocations()
    assert inv.initiated_by_run_id == launcher.id
    assert fl.Artifact.get(key="data/a.txt").run_id is None  # the writer did not borrow
    # the launcher's run (FLOWLINEAGE_RUN): the workflow's inputs are not its outputs

    script = workflow / "analyse.py"
    script.write_text("""\
import flowlineage as fl

fl.track()
report = fl.Artifact.get(key="results/report.txt")
with open(report.cache()) as f:
    text = f.read()
with open("summary.txt", "w") as f:
    f.write(text.upper())
fl.Artifact("summary.txt", key="analysis/summary.txt").save()
fl.finish()
""")
    subprocess.run([sys.executable, str(script)], cwd=workflow, check=True, timeout=300)

    lineage = fl.Artifact.get(key="analysis/summary.txt").upstream()
    run_keys = {r.transform.key for r in lineage.run_list}
    assert run_keys == {"analyse.py", "launcher.py", "snakemake:Snakefile"} | {
        f"snakemake:Snakefile:{rule}" for rule in ("upper", "count", "merge", "report")}
    assert {"results/report.txt", "data/a.txt", "data/c.txt"} <= keys(lineage.artifact_list)


INTERRUPTIBLE = """\
rule all:
    input: "fast.txt", "slow.txt", "after.txt"
rule fast:
    output: "fast.txt"
    shell: "echo fast > {output}"
rule slow:
    output: "slow.txt"
    shell: "sleep {config[sleep]}; echo slow > {output}"
rule after:
    input: "slow.txt"
    output: "after.txt"
    shell: "cp {input} {output}"
"""


@pytest.mark.parametrize(("how", "sleep", "slow_status"), [
    ("ctrl-c", 60, "aborted"),  # SIGINT to the process group, as a terminal sends it
    ("sigterm", 3, "completed"),  # Snakemake lets running jobs finish, then stops
    ("sigkill", 60, "aborted"),  # Snakemake dies: the writer sees its input end early
])
def test_interrupted_run_is_aborted(instance: Instance, tmp_path: Path, how: str, sleep: int,
                                    slow_status: str) -> None:
    workdir = tmp_path / "wf"
    workdir.mkdir()
    (workdir / "Snakefile").write_text(INTERRUPTIBLE)
    cmd = [str(SNAKEMAKE), "--logger=flowlineage", "--cores", "2", "--config", f"sleep={sleep}"]
    proc = subprocess.Popen(cmd, cwd=workdir, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not fl.Run.filter(reference_type="snakemake_job", name="slow").exists():
            assert time.monotonic() < deadline and proc.poll() is None, "slow job never seen"
            time.sleep(0.2)
        if how == "sigterm":
            proc.send_signal(signal.SIGTERM)
        else:
            os.killpg(proc.pid, signal.SIGINT if how == "ctrl-c" else signal.SIGKILL)
        assert proc.wait(timeout=120) != 0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    while invocations()[0].status == "started":  # a killed Snakemake did not wait for it
        assert time.monotonic() < deadline, "the writer never ended the run"
        time.sleep(0.2)

    (inv,) = invocations()
    jobs = jobs_of(inv)
    assert inv.status == "aborted"
    assert (jobs["fast"].status, jobs["slow"].status) == ("completed", slow_status)
    assert "after" not in jobs


def test_copy_mode_and_unhashed_inputs(instance: Instance, workflow: Path,
                                       run_snakemake: Runner) -> None:
    run_snakemake(workflow, "--logger-flowlineage-register", "copy",
              "--logger-flowlineage-no-hash-inputs")

    (inv,) = invocations()
    report = fl.Artifact.get(key="results/report.txt")
    assert report._key_is_virtual and report.storage_id == instance.storage_id
    assert Path(report.path).read_bytes() == (  # type: ignore[arg-type]
        workflow / "results" / "report.txt").read_bytes()
    assert inv.input_artifacts.count() == 0  # raw inputs were not hashed
    assert not fl.Artifact.filter(key="data/a.txt").exists()
    jobs = jobs_of(inv)
    assert keys(jobs["count[sample=a]"].input_artifacts.all()) == {"work/a.upper"}

    # an input recorded before (same key and size) is linked without hashing it
    raw = fl.Artifact(workflow / "data" / "a.txt", key="data/a.txt").save()
    run_snakemake(workflow, "--forceall", "--logger-flowlineage-register", "copy",
              "--logger-flowlineage-no-hash-inputs")
    second = invocations()[1]
    assert [a.id for a in jobs_of(second)["upper[sample=a]"].input_artifacts.all()] == [raw.id]


def test_retried_job(instance: Instance, tmp_path: Path, run_snakemake: Runner) -> None:
    workdir = tmp_path / "wf"
    workdir.mkdir()
    (workdir / "Snakefile").write_text(
        'rule flaky:\n    output: "out.txt"\n'
        '    shell: "if [ -e tried ]; then echo ok > {output}; else touch tried; exit 1; fi"\n'
    )
    run_snakemake(workdir, "--retries", "1")

    (inv,) = invocations()
    (job,) = jobs_of(inv).values()
    assert (inv.status, job.status) == ("completed", "completed")
    assert job.params is not None and job.params["attempt"] == 2
    assert job.description is None
    assert fl.Artifact.get(key="out.txt").run_id == job.id

"""Trace ingestion: every fixture trace, metrics as queryable features, retries, idempotency,
malformed input, and task work directories (outputs in place, inputs linked upstream)."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import flowlineage as fl
import pytest
from flowlineage.db.engine import Instance
from flowlineage.db.tables import run_feature_value as RunFeatureValue
from flowlineage.errors import IngestionError
from flowlineage_nextflow.ingest_trace import ingest_trace
from flowlineage_nextflow.trace import parse_trace
from sqlalchemy import func, select

from .nf_helpers import TRACES, build_work_dir, counts

ALL_TRACES = sorted(TRACES.glob("*.txt"))
STATUS = {"COMPLETED": "completed", "CACHED": "completed", "FAILED": "errored",
          "ABORTED": "aborted"}


def expected_statuses(path: Path) -> Counter[str]:
    """Run statuses a trace file should give, read off the raw text: exact duplicate lines
    count once, and a task written twice (same hash, or same task_id without a hash column)
    is one run with the status of its later line."""
    lines = path.read_text().splitlines()
    header = lines[0].split("\t")
    latest: dict[str, str] = {}
    for line in dict.fromkeys(lines[1:]):
        values = dict(zip(header, line.split("\t"), strict=True))
        key = values.get("hash") or f"task {values['task_id']}"
        latest.pop(key, None)
        latest[key] = values["status"]
    return Counter(STATUS[s] for s in latest.values())


def task_runs(status: str | None = None) -> int:
    lookups = {"status": status} if status else {}
    return fl.Run.filter(reference_type="nextflow_task", **lookups).count()


@pytest.mark.parametrize("path", ALL_TRACES, ids=lambda p: p.name)
def test_every_fixture_trace_ingests_with_its_status_counts(instance: Instance,
                                                            path: Path) -> None:
    expected = expected_statuses(path)
    result = ingest_trace(path)
    assert result.status_counts == dict(expected)
    assert result.task_runs == sum(expected.values()) == task_runs()
    for status, n in expected.items():
        assert task_runs(status) == n
    workflow = fl.Run.get(reference_type="nextflow_run")
    assert workflow.id == result.run_id and workflow.transform.type == "pipeline"
    assert workflow.initiated_runs.count() == sum(expected.values())
    assert {r.transform.type for r in workflow.initiated_runs.limit(20)} <= {"process"}
    if sum(expected.values()) <= 1000:  # the big files are re-ingested in the bench
        before = counts()
        again = ingest_trace(path)
        assert again.run_id == result.run_id and counts() == before


@pytest.mark.parametrize("name", [
    "sars_cov2_assembly__trace_failed.txt",
    "openebench_gmi__trace_cached_failed_aborted.txt",
    "ipd_ref_generator__trace_failed_aborted.txt",
    "openproblems__execution_trace_217rows.txt",
])
def test_trace_ingestion_on_sqlite_and_postgres(any_instance: Instance, name: str) -> None:
    path = TRACES / name
    expected = expected_statuses(path)
    result = ingest_trace(path, run_id="run-1")
    assert fl.Run.get(reference="run-1", reference_type="nextflow_run").id == result.run_id
    for status, n in expected.items():
        assert task_runs(status) == n
    before = counts()
    ingest_trace(path, run_id="run-1")
    assert counts() == before


def test_metrics_are_typed_numbers_and_queryable(instance: Instance) -> None:
    path = TRACES / "chipseq__execution_trace_275rows.txt"
    ingest_trace(path, run_id="chip", run_name="happy_turing", pipeline="nf-core/chipseq")
    run = fl.Run.get(reference="chip:19/beb69e")
    assert run.name == "CHIPSEQ:OUTPUT_DOCUMENTATION" and run.status == "completed"
    assert run.transform.key == "nextflow:nf-core/chipseq:CHIPSEQ:OUTPUT_DOCUMENTATION"
    assert run.initiated_by_run.name == "happy_turing"  # type: ignore[union-attr]
    assert run.features.get_values() == {
        "task_id": 5, "native_id": "3038", "exit": 0, "duration": 80_000, "realtime": 241,
        "%cpu": 85.2, "peak_rss": round(14.2 * 2**20), "peak_vmem": round(19.5 * 2**20),
        "rchar": round(3.2 * 2**20), "wchar": round(1.2 * 2**20)}
    submit = datetime.fromisoformat("2021-02-17 17:03:21.800").astimezone(UTC)
    # started when it began running: submit + (duration - realtime); ended submit + duration
    assert run.started_at == submit + timedelta(milliseconds=80_000 - 241)
    assert run.finished_at == submit + timedelta(milliseconds=80_000)

    rows = parse_trace(path).rows
    big = [r for r in rows if isinstance(r.metrics["peak_rss"], int)
           and r.metrics["peak_rss"] > 2**30]
    assert big  # the query below is not vacuous
    found = fl.Run.filter(features__peak_rss__gt=2**30).all()
    assert sorted(r.name or "" for r in found) == sorted(r.name for r in big)
    assert fl.Run.filter(features__exit=127, status="errored").count() == sum(
        r.exit == 127 for r in rows) == 12
    assert fl.Run.filter(features__native_id__in=["3038", "none"]).one().id == run.id
    with instance.read() as s:  # one metrics row per task, none for the values
        assert s.scalar(select(func.count()).select_from(RunFeatureValue).where(
            RunFeatureValue.c.name != "bundle")) == 5  # the workflow's task counts


def test_reingesting_rewrites_only_changed_tasks(instance: Instance, tmp_path: Path) -> None:
    path = tmp_path / "trace.txt"
    shutil.copy(TRACES / "chipseq__execution_trace_275rows.txt", path)
    ingest_trace(path, run_id="chip", pipeline="p")
    exit_1 = fl.Run.filter(features__exit=1).count()
    kept, edited = fl.Run.get(reference="chip:19/beb69e"), fl.Run.get(reference="chip:42/18f93b")
    for run in (kept, edited):  # a hand edit that re-ingesting a task would overwrite
        run.name = "renamed"
        run.save()
    text = path.read_text()
    line = next(ln for ln in text.splitlines() if "\t42/18f93b\t" in ln)
    path.write_text(text.replace(line, line.replace("\tCOMPLETED\t0\t", "\tFAILED\t1\t")))
    ingest_trace(path, run_id="chip", pipeline="p")
    kept, edited = fl.Run.get(kept.id), fl.Run.get(edited.id)
    assert kept.name == "renamed"  # unchanged line: skipped
    assert (edited.name, edited.status) == ("CHIPSEQ:INPUT_CHECK:SAMPLESHEET_CHECK (design.csv)",
                                            "errored")
    assert edited.features.get_values()["exit"] == 1
    assert fl.Run.filter(features__exit=1).count() == exit_1 + 1
    ingest_trace(path, run_id="chip", pipeline="renamed-pipeline")  # new transforms: all
    assert fl.Run.get(kept.id).name == "CHIPSEQ:OUTPUT_DOCUMENTATION"
    assert fl.Run.get(kept.id).transform.key == (
        "nextflow:renamed-pipeline:CHIPSEQ:OUTPUT_DOCUMENTATION")


def test_retries_chain_to_their_first_attempt(instance: Instance) -> None:
    result = ingest_trace(TRACES / "sars_cov2_assembly__trace_failed.txt", run_id="sars")
    chain = fl.Run.filter(name="trimming (201105)").order_by("id").all()
    by_ref = {r.reference: r for r in chain}
    first = by_ref["sars:1d/13a4f6"]
    assert first.features.get_values().get("attempt") is None
    later = [by_ref[f"sars:{h}"] for h in ("16/84c34f", "64/5e3a39", "c5/e7752f")]
    assert [r.features.get_values()["attempt"] for r in later] == [2, 3, 4]
    assert {r.features.get_values()["restart_of"] for r in later} == {first.uid}
    # the last attempt (never submitted, written twice) has no times
    assert later[-1].started_at is None and later[-1].finished_at is None
    assert result.duplicate_lines == (10,)
    workflow = fl.Run.get(result.run_id)
    assert workflow.status == "errored"  # every trimming task ended FAILED
    assert workflow.features.get_values()["tasks_failed"] == 9


@pytest.mark.parametrize(("name", "status"), [
    ("openproblems__execution_trace_864rows.txt", "completed"),  # each failure retried fine
    ("wfcommons__methylseq_execution_trace.3.txt", "errored"),  # failed, never retried
    ("h3abionet_cvd__execution_trace.6.txt", "completed"),  # FAILED, then retried fine
    ("scisoseq__execution_trace.3.txt", "aborted"),
    ("paintorpipe__trace_cached.txt", "completed"),
    ("wfcommons__header_only_execution_trace.4.txt", "completed"),
])
def test_workflow_status_rule(instance: Instance, name: str, status: str) -> None:
    assert fl.Run.get(ingest_trace(TRACES / name).run_id).status == status


def test_retried_then_completed_task(instance: Instance) -> None:
    ingest_trace(TRACES / "h3abionet_cvd__execution_trace.6.txt", run_id="cvd")
    failed, retried = fl.Run.get(reference="cvd:23/1ebd23"), fl.Run.get(reference="cvd:13/9ef692")
    assert (failed.status, retried.status) == ("errored", "completed")
    assert retried.features.get_values()["restart_of"] == failed.uid


def test_cached_tasks_are_completed_and_marked(instance: Instance) -> None:
    ingest_trace(TRACES / "paintorpipe__trace_cached.txt", run_id="p")
    assert fl.Run.filter(features__cached=True, status="completed").count() == 54


def test_run_id_defaults_to_the_content_hash(instance: Instance, tmp_path: Path) -> None:
    source = TRACES / "lifebit_gwas__execution_trace.txt"
    copy = tmp_path / "renamed.txt"
    shutil.copy(source, copy)
    first = ingest_trace(source)
    second = ingest_trace(copy, pipeline="lifebit_gwas")
    assert first.workflow_runs == second.workflow_runs
    (ref,) = first.workflow_runs
    assert ref.startswith("trace-") and len(ref) == len("trace-") + 32
    assert fl.Transform.filter(key="nextflow:lifebit_gwas", type="pipeline").count() == 1
    copy.write_text(copy.read_text() + copy.read_text().splitlines(keepends=True)[1])
    assert ingest_trace(copy).workflow_runs != first.workflow_runs  # new content, new run


MALFORMED = [  # (what, text replaced in the lifebit trace, by, line, field)
    ("bad duration", "13.4s", "13 parsecs", 2, "duration"),
    ("short row", "\t30.8 KB\n", "\n", 2, "wchar"),
    ("unknown status", "gwas_tools\tCOMPLETED", "gwas_tools\tDONE", 3, "status"),
    ("bad percent", "98.6%", "lots", 3, "%cpu"),
    ("bad size", "274.9 MB", "274.9 parsecs", 4, "peak_rss"),
    ("missing column", "\tstatus\t", "\tstate\t", 1, "status"),
    ("NUL byte", "gwas_tools", "gwas\0tools", 3, "name"),
]


@pytest.mark.parametrize(("what", "old", "new", "line", "field"), MALFORMED,
                         ids=[m[0] for m in MALFORMED])
def test_malformed_traces_fail_cleanly_and_write_nothing(
        instance: Instance, tmp_path: Path, what: str, old: str, new: str, line: int,
        field: str) -> None:
    path = tmp_path / "trace.txt"
    text = (TRACES / "lifebit_gwas__execution_trace.txt").read_text()
    assert text.count(old) == 1
    path.write_text(text.replace(old, new))
    with pytest.raises(IngestionError) as info:
        ingest_trace(path)
    assert (info.value.source, info.value.line, info.value.field) == (str(path), line, field)
    assert counts()[:2] == (0, 0)


def test_non_utf8_trace(instance: Instance, tmp_path: Path) -> None:
    path = tmp_path / "trace.txt"
    data = (TRACES / "lifebit_gwas__execution_trace.txt").read_bytes()
    path.write_bytes(data.replace(b"lassosum", b"lasso\xffsum"))
    with pytest.raises(IngestionError, match="not UTF-8") as info:
        ingest_trace(path)
    assert info.value.line == 5 and info.value.field == "name"
    with pytest.raises(IngestionError, match="cannot read"):
        ingest_trace(tmp_path / "missing.txt")
    assert counts()[:2] == (0, 0)


def test_a_failure_midway_rolls_everything_back(instance: Instance,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import flowlineage.adapters

    def broken(values: object, **options: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(flowlineage.adapters, "set_run_features", broken)
    with pytest.raises(RuntimeError, match="disk full"):
        ingest_trace(TRACES / "chipseq__execution_trace_275rows.txt")
    assert counts() == (0, 0, 0, 0, 0)


# --------------------------------------------------------------------------- work dirs


def test_workdir_outputs_inputs_and_lineage(instance: Instance, tmp_path: Path) -> None:
    path = TRACES / "lifebit_gwas__execution_trace.txt"
    rows = list(parse_trace(path).rows)
    space = build_work_dir(tmp_path, rows)
    result = ingest_trace(path, run_id="gwas", workdir=space.work)
    assert result.artifacts == 2 * len(rows)
    assert result.input_links == len(rows) + 1
    for row in rows:
        assert row.hash is not None
        run = fl.Run.get(reference=f"gwas:{row.hash}")
        outputs = run.output_artifacts.all()
        assert sorted(a.key or "" for a in outputs) == sorted(
            str(p.relative_to(space.work)) for p in space.outputs[row.hash])
        assert {a.storage_id for a in outputs} == {instance.storage_id}  # copied, no new root
        inputs = run.input_artifacts.all()
        assert len(inputs) == len(space.links[row.hash])
    first, second, last = (fl.Run.get(reference=f"gwas:{r.hash}") for r in
                           (rows[0], rows[1], rows[-1]))
    (external,) = first.input_artifacts.all()
    assert external.run_id is None and external.key == "samples.csv"
    assert external.storage_id == instance.storage_id and external._key_is_virtual
    assert fl.Storage.filter().count() == 1  # ingestion made no storage root
    (upstream,) = second.input_artifacts.all()
    assert upstream.run_id == first.id  # task-to-task lineage through the symlink
    final = last.output_artifacts.filter(key__endswith="out_3.txt").one()
    lineage = final.upstream()
    assert {r.id for r, _ in lineage.runs} >= {first.id, second.id, last.id}
    assert external.id in {a.id for a, _ in lineage.artifacts}
    assert not any(a.key and "/.command." in a.key for a in fl.Artifact.filter().all())
    before = counts()
    ingest_trace(path, run_id="gwas", workdir=space.work)
    assert counts() == before


def test_cached_tasks_recreate_the_outputs_of_the_original_run(instance: Instance,
                                                               tmp_path: Path) -> None:
    path = TRACES / "lifebit_gwas__execution_trace.txt"
    rows = list(parse_trace(path).rows)
    space = build_work_dir(tmp_path, rows)
    ingest_trace(path, run_id="first", workdir=space.work)
    resumed = tmp_path / "resumed_trace.txt"
    resumed.write_text(path.read_text().replace("COMPLETED", "CACHED"))
    result = ingest_trace(resumed, run_id="resumed", workdir=space.work)
    assert result.status_counts == {"completed": len(rows)}
    for row in rows:
        original = fl.Run.get(reference=f"first:{row.hash}")
        cached = fl.Run.get(reference=f"resumed:{row.hash}")
        assert cached.output_artifacts.count() == 0
        assert sorted(a.id for a in cached.recreated_artifacts.all()) == sorted(
            a.id for a in original.output_artifacts.all())


def test_tasks_without_a_work_directory_are_reported(instance: Instance,
                                                     tmp_path: Path) -> None:
    path = TRACES / "wfcommons__hlatyping_execution_trace.txt"
    rows = list(parse_trace(path).rows)
    space = build_work_dir(tmp_path, rows[:2])
    result = ingest_trace(path, workdir=space.work)
    assert len(result.skipped) == len(rows) - 2
    assert result.artifacts == 4

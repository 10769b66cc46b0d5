"""Nextflow parsers (trace files, lineage records, weblog bodies) against real fixture files."""

from __future__ import annotations

import ast
import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import fl_fixtures
import pytest
from flowlineage.errors import IngestionError
from flowlineage_nextflow.lineage_records import (
    FileOutput,
    HistoryEntry,
    SkippedRecord,
    TaskOutput,
    TaskRun,
    WorkflowOutput,
    WorkflowRun,
    parse_lineage_record,
    parse_view_output,
    read_lineage_store,
)
from flowlineage_nextflow.trace import (
    MAX_FIELD_CHARS,
    TaskStatus,
    TraceFile,
    parse_trace,
    parse_trace_text,
)
from flowlineage_nextflow.units import (
    load_json,
    parse_duration_ms,
    parse_int,
    parse_percent,
    parse_size_bytes,
    parse_timestamp,
)
from flowlineage_nextflow.weblog_events import WeblogEventType, parse_weblog_event

FIXTURES = fl_fixtures.FIXTURES / "nextflow"

TRACES = sorted((FIXTURES / "trace").glob("*.txt"))
NONEMPTY_TRACES = [p for p in TRACES if p.read_text().count("\n") > 1]
RECORDS = sorted(p for p in (FIXTURES / "lineage").glob("*.json") if "view_output" not in p.name)
WEBLOG = FIXTURES / "weblog"

RUN = "16b31030474f2e96c55f4940bca3ab64"
TASK = "862df53160e07cd823c0c3960545e747"
SESSION = "065bdc6b-89b4-42ee-92c1-2a5af37f2c50"


def stated_status_counts() -> dict[str, dict[str, int]]:
    """``statuses {...}`` per trace file, as SOURCES.md states them."""
    stated = {}
    for line in (fl_fixtures.FIXTURES / "SOURCES.md").read_text().splitlines():
        match = re.match(r"\| `nextflow/trace/([^`]+)` .*?statuses (\{[^}]*\})", line)
        if match:
            stated[match[1]] = ast.literal_eval(match[2])
    return stated


def raise_info(excinfo: pytest.ExceptionInfo[IngestionError]) -> tuple[int | None, str | None]:
    return excinfo.value.line, excinfo.value.field


# --- units --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ms"),
    [("81ms", 81), ("0ms", 0), ("1.8s", 1800), ("19s", 19_000), ("4m 19s", 259_000),
     ("1m", 60_000), ("2h 5m", 7_500_000), ("1h 3s", 3_603_000),
     ("4h 12m 10s", 15_130_000), ("1d 13h 37m 33s", 135_453_000), ("81", 81), (81, 81),
     ("-", None)],
)
def test_duration(text: str | int, ms: int | None) -> None:
    assert parse_duration_ms(text) == ms


@pytest.mark.parametrize("text", ["", "1x", "1s 1s", "1m 2h", "1.8", "-5", " 1s", "1 s", "nan"])
def test_duration_invalid(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration_ms(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [("482 B", 482), ("637.9 KB", 653_210), ("3.1 MB", 3_250_586), ("1.5 GB", 1_610_612_736),
     ("1 TB", 1024**4), ("0", 0), ("1016 B", 1016), (482, 482), ("4096", 4096), ("-", None)],
)
def test_size(text: str | int, size: int | None) -> None:
    assert parse_size_bytes(text) == size


@pytest.mark.parametrize("value", ["1 XB", "KB", "1,5 MB", "-1", -1, True, 1.5])
def test_size_invalid(value: str | int) -> None:
    with pytest.raises(ValueError, match="size"):
        parse_size_bytes(value)


@pytest.mark.parametrize(
    ("text", "percent"),
    [("24.1%", 24.1), ("1577.7%", 1577.7), ("0.0%", 0.0), ("24.1", 24.1), (24.1, 24.1), (0, 0.0),
     ("-", None)],
)
def test_percent(text: str | float, percent: float | None) -> None:
    assert parse_percent(text) == percent


@pytest.mark.parametrize("value", ["abc%", "nan", "-3%", float("nan"), -1.0, False])
def test_percent_invalid(value: str | float) -> None:
    with pytest.raises(ValueError, match="percentage"):
        parse_percent(value)


def test_timestamps() -> None:
    assert parse_timestamp("2021-03-29 19:50:21.822") == datetime(2021, 3, 29, 19, 50, 21, 822000)
    aware = datetime(2018, 10, 7, 11, 42, 9, 498000, tzinfo=UTC)
    assert parse_timestamp(1538912529498) == aware
    assert parse_timestamp("1538912529498") == aware
    assert parse_timestamp(0) is None
    assert parse_timestamp("-") is None
    for bad in ("2021-02-30 10:00:00.000", "yesterday", "2021-03-29T19:50:21", -5, 10**20):
        with pytest.raises(ValueError):
            parse_timestamp(bad)


def test_int() -> None:
    assert parse_int("137") == 137
    assert parse_int("-1") == -1
    assert parse_int("-") is None
    for bad in ("1.0", "one", "٣", True):
        with pytest.raises(ValueError, match="integer"):
            parse_int(bad)


def test_load_json_is_strict() -> None:
    with pytest.raises(IngestionError, match="NaN is not valid JSON"):
        load_json('{"a": NaN}', source="x")
    with pytest.raises(IngestionError, match="byte 0xe9 at byte offset 11") as excinfo:
        load_json('{\n"a": "caf\u00e9"}'.encode("latin-1"), source="x")
    assert excinfo.value.line == 2


# --- trace files --------------------------------------------------------------------------


def test_every_trace_fixture_matches_sources_md() -> None:
    stated = stated_status_counts()
    assert {path.name for path in TRACES} == set(stated)
    for path in TRACES:
        lines = path.read_text().split("\n")[:-1]
        status_at = lines[0].split("\t").index("status")
        independent = Counter(line.split("\t")[status_at] for line in lines[1:])
        assert independent == stated[path.name], path.name

        trace = parse_trace(path)
        parsed = Counter(row.status.value for row in trace.rows)
        parsed.update(lines[n - 1].split("\t")[status_at] for n in trace.duplicate_lines)
        assert parsed == independent, path.name
        assert len(trace.rows) + len(trace.duplicate_lines) == len(lines) - 1
        assert trace.columns == tuple(lines[0].split("\t"))


@pytest.mark.parametrize("path", TRACES, ids=lambda p: p.name)
def test_trace_metrics_are_typed(path: Path) -> None:
    numeric = {"duration", "realtime", "%cpu", "%mem", "rss", "vmem", "peak_rss", "peak_vmem",
               "rchar", "wchar", "syscr", "syscw", "read_bytes", "write_bytes"}
    trace = parse_trace(path)
    for row in trace.rows:
        assert row.line is not None and row.attempt is not None
        assert row.first_attempt_task_id is not None
        assert isinstance(row.status, TaskStatus)
        assert row.exit is None or isinstance(row.exit, int)
        for column, value in row.metrics.items():
            if column in numeric:
                assert value is None or isinstance(value, int | float), (column, value)
            elif column == "submit":
                assert value is None or datetime.fromisoformat(str(value)).tzinfo is None
        if row.status is TaskStatus.ABORTED:
            assert row.exit is None


def test_trace_values() -> None:
    trace = parse_trace(FIXTURES / "trace/wfcommons__hlatyping_execution_trace.txt")
    row = trace.rows[0]
    assert (row.line, row.task_id, row.hash, row.native_id) == (2, 1, "a9/0da8f1", "12402")
    assert (row.name, row.process, row.tag, row.exit) == ("make_ot_config", "make_ot_config",
                                                          None, 0)
    assert row.metrics == {
        "submit": "2021-03-29T19:50:21.822", "duration": 259_000, "realtime": 1800,
        "%cpu": 24.1, "peak_rss": 3_250_586, "peak_vmem": 5_662_310, "rchar": 653_210,
        "wchar": 1843,
    }
    assert trace.rows[3].process == "remap_to_hla" and trace.rows[3].tag == "1"

    chipseq = parse_trace(FIXTURES / "trace/chipseq__execution_trace_275rows.txt")
    first = chipseq.rows[1]
    assert first.process == "CHIPSEQ:INPUT_CHECK:SAMPLESHEET_CHECK" and first.tag == "design.csv"
    assert any(r.metrics["peak_vmem"] == 1024**4 for r in chipseq.rows)  # "1 TB"

    paintor = parse_trace(FIXTURES / "trace/paintorpipe__trace_720rows_slurm.txt")
    assert any(r.metrics["duration"] == 135_453_000 for r in paintor.rows)  # 1d 13h 37m 33s

    custom = parse_trace(FIXTURES / "trace/prolonged_infection__trace_15006rows.txt")
    assert custom.rows[0].hash is None and custom.rows[0].native_id is None
    assert custom.rows[0].metrics["rss"] == 0 and custom.rows[0].metrics["%mem"] == 0.0


def attempts(trace: TraceFile, name: str) -> list[tuple[int, str, int | None, int | None]]:
    return sorted((r.task_id, r.status.value, r.attempt, r.first_attempt_task_id)
                  for r in trace.rows if r.name == name)


def test_duplicates_and_retries() -> None:
    sars = parse_trace(FIXTURES / "trace/sars_cov2_assembly__trace_failed.txt")
    assert sars.duplicate_lines == (10,)
    assert attempts(sars, "trimming (201105)") == [
        (5, "FAILED", 1, 5), (7, "FAILED", 2, 5), (10, "FAILED", 3, 5), (13, "FAILED", 4, 5)]
    last = next(r for r in sars.rows if r.task_id == 13)
    assert (last.native_id, last.exit, last.metrics["submit"]) == (None, None, None)

    problems = parse_trace(FIXTURES / "trace/openproblems__execution_trace_864rows.txt")
    assert attempts(problems, "load_dataset (label_projection:pancreas_batch:openproblems)") == [
        (94, "FAILED", 1, 94), (389, "FAILED", 2, 94), (673, "COMPLETED", 3, 94)]

    # Distinct tasks sharing a name are not retries of each other.
    chipseq = parse_trace(FIXTURES / "trace/chipseq__execution_trace_275rows.txt")
    checksums = attempts(chipseq, "CHIPSEQ:JO_CHECKSUMS (null)")
    assert len(checksums) == 6 and all(a == 1 and f == t for t, _, a, f in checksums)

    scisoseq = parse_trace(FIXTURES / "trace/scisoseq__execution_trace.3.txt")
    assert attempts(scisoseq, "collate_results (1)") == [
        (8, "FAILED", 1, 8), (9, "ABORTED", 2, 8)]

    # Task 14 is written twice identically (dropped once); task 34 twice with differing rows.
    ipd = parse_trace(FIXTURES / "trace/ipd_ref_generator__trace_failed_aborted.txt")
    assert ipd.duplicate_lines == (7,)
    assert attempts(ipd, "PULL_IPD_MHC (6)") == [(34, "ABORTED", 1, 34), (34, "FAILED", 1, 34)]


def test_synthetic_columns() -> None:
    text = (
        "task_id\tprocess\ttag\tname\tstatus\texit\tattempt\tsubmit\tmemory\tcpus\taccelerator\n"
        "1\tALIGN\tS1\tALIGN (S1)\tFAILED\t137\t1\t1538912529498\t7516192768\t4\tgpu0\n"
        "2\tALIGN\t-\tALIGN (S1)\tCOMPLETED\t0\t2\t1538912529600\t8 GB\t4\t-\n"
        "3\tALIGN\tS1\tALIGN (S1)\tCOMPLETED\t0\t1\t-\t-\t-\t-\n"
    )
    trace = parse_trace_text(text, source="raw.txt")
    first, second, third = trace.rows
    assert (first.process, first.tag, first.attempt, first.first_attempt_task_id) == (
        "ALIGN", "S1", 1, 1)
    assert (second.tag, second.attempt, second.first_attempt_task_id) == (None, 2, 1)
    assert (third.attempt, third.first_attempt_task_id) == (1, 3)
    assert first.metrics == {"submit": "2018-10-07T11:42:09.498+00:00", "memory": 7516192768,
                             "cpus": 4, "accelerator": "gpu0"}
    assert second.metrics["memory"] == 8 * 1024**3 and second.metrics["accelerator"] is None
    # The same content as lines, with CRLF endings and a BOM, parses the same.
    assert parse_trace_text(text.splitlines(keepends=True), source="raw.txt") == trace
    crlf = ("\ufeff" + text.replace("\n", "\r\n")).encode()
    assert parse_trace_text(crlf, source="raw.txt") == trace


def test_header_only_traces() -> None:
    for name in ("wfcommons__header_only_execution_trace.4.txt",
                 "two_step_imputation__trace_header_only_custom_fields.txt"):
        trace = parse_trace(FIXTURES / "trace" / name)
        assert trace.rows == () and trace.duplicate_lines == () and "task_id" in trace.columns


def malformed(path: Path, row: int, column: str, value: str) -> str:
    """The fixture with the ``column`` value of data row ``row`` (1-based) replaced."""
    lines = path.read_text().split("\n")
    header = lines[0].split("\t")
    cells = lines[row].split("\t")
    cells[header.index(column)] = value
    lines[row] = "\t".join(cells)
    return "\n".join(lines)


def parse_error(
    data: str | bytes | list[str], source: str = "t.txt"
) -> tuple[int | None, str | None, str]:
    with pytest.raises(IngestionError) as excinfo:
        parse_trace_text(data, source=source)
    assert excinfo.value.source == source
    return excinfo.value.line, excinfo.value.field, excinfo.value.reason


@pytest.mark.parametrize("path", NONEMPTY_TRACES, ids=lambda p: p.name)
def test_malformed_trace_variants(path: Path) -> None:
    text = path.read_text()
    lines = text.split("\n")
    header = lines[0].split("\t")
    last = len(lines) - 1  # 1-based line number of the last row

    cells = lines[-2].split("\t")
    truncated = "\n".join(lines[:-2] + ["\t".join(cells[:-1])]) + "\n"
    assert parse_error(truncated)[:2] == (last, header[-1])

    dropped = "\n".join("\t".join(c for i, c in enumerate(line.split("\t"))
                                  if i != header.index("status")) for line in lines)
    assert parse_error(dropped)[:2] == (1, "status")
    assert parse_error(text.replace("\trealtime", "", 1))[:2] == (2, None)  # header only

    assert parse_error(malformed(path, 1, "realtime", "12 parsecs"))[:2] == (2, "realtime")
    assert parse_error(malformed(path, 2 if last > 2 else 1, "%cpu", "lots"))[1] == "%cpu"
    assert parse_error(malformed(path, 1, "exit", "ok"))[:2] == (2, "exit")
    assert parse_error(malformed(path, 1, "task_id", "x7"))[:2] == (2, "task_id")
    line, field, reason = parse_error(malformed(path, 1, "status", "RUNNING"))
    assert (line, field) == (2, "status") and "RUNNING" in reason
    assert parse_error(malformed(path, 1, "name", "a\x00b"))[:3] == (2, "name", "NUL byte")
    long = malformed(path, 1, "name", "x" * (MAX_FIELD_CHARS + 1))
    assert parse_error(long)[:2] == (2, "name")

    latin1 = malformed(path, 1, "name", "caf\u00e9").encode("latin-1")
    line, field, reason = parse_error(latin1)
    assert (line, field) == (2, "name")
    assert f"byte offset {latin1.index(b'caf') + 3}" in reason

    assert parse_error(text.replace("task_id", "name", 1))[:2] == (1, "name")  # duplicate
    assert parse_error(text.replace("task_id", "id", 1))[:2] == (1, "task_id")  # missing


def test_trace_header_and_name_errors() -> None:
    row = "1\tx\tCOMPLETED\n"
    assert parse_error("task_id\tname \tstatus\n" + row)[:2] == (1, "name ")
    assert parse_error("task_id\t\tname\tstatus\n1\t\tx\tCOMPLETED\n")[:2] == (1, "")
    assert parse_error("task_id\tname\tstatus\n1\t-\tCOMPLETED\n")[:2] == (2, "name")
    assert parse_error("task_id\tname\tstatus\n1\tx\tCOMPLETED\tx\n")[:2] == (2, None)


def test_empty_trace_and_unreadable_file(tmp_path: Path) -> None:
    empties: list[str | bytes | list[str]] = ["", b"", "\n", []]
    for empty in empties:
        assert parse_error(empty)[:2] == (1, None)
    with pytest.raises(IngestionError, match="cannot read trace file") as excinfo:
        parse_trace(tmp_path / "missing.txt")
    assert excinfo.value.source == str(tmp_path / "missing.txt")


# --- lineage records ----------------------------------------------------------------------


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.name)
def test_every_lineage_fixture_parses(path: Path) -> None:
    store = read_lineage_store(path)
    assert list(store.records) == [path.stem] and store.skipped == () and store.history == ()
    record = store.records[path.stem]
    kind = path.name.split("_")[1].split("-")[0]
    assert type(record).__name__ == kind
    compact = json.dumps(json.loads(path.read_text()), separators=(",", ":"))
    assert "\n" not in compact
    assert parse_lineage_record(compact, key=path.stem, source="compact") == record


def test_lineage_generations_agree() -> None:
    def load(name: str) -> object:
        record = read_lineage_store(FIXTURES / "lineage" / name).records[name[:-5]]
        return type(record)(**{**{f: getattr(record, f) for f in record.__slots__}, "key": ""})

    assert (load("gen1-25.04_TaskRun_MULTIQC.json")
            == load("gen2-versioned-flat_TaskRun_MULTIQC.json")
            == load("gen3-envelope_TaskRun_MULTIQC.json"))
    assert (load("gen2-versioned-flat_FileOutput_task-output.json")
            == load("gen3-envelope_FileOutput_task-output.json"))
    assert (load("gen1-25.04_FileOutput_workflow-output.json")
            == load("gen3-envelope_FileOutput_workflow-output.json"))


def test_lineage_values() -> None:
    task = parse_lineage_record((FIXTURES / "lineage/gen3-envelope_TaskRun_MULTIQC.json")
                                .read_bytes(), key=TASK, source="t")
    assert isinstance(task, TaskRun)
    assert (task.session_id, task.name, task.workflow_run) == (SESSION, "MULTIQC", f"lid://{RUN}")
    assert task.code_checksum == ("edf2e9f84cd3a18ee9259012b660f2dd", "nextflow", "standard")
    assert task.conda == "file:///conda/env-4a436c230263dfdbbf4dddd0623505d1"
    assert (task.eval, task.module_id, task.global_vars, task.bin_entries) == (None, None, {}, ())
    assert task.input[0].lids() == ("lid://eff8846883b46c5a76f11e7e4480a6c8/ggal_gut",
                                    "lid://2d8bd92c69f732605bc99941e60d5319/fastqc_ggal_gut_logs")
    assert task.input[1].lids() == ()

    published = read_lineage_store(
        FIXTURES / "lineage/gen3-envelope_FileOutput_workflow-output.json").records
    (output,) = published.values()
    assert isinstance(output, FileOutput)
    assert (output.task_run, output.source, output.size) == (
        None, f"lid://{TASK}/multiqc_report.html", 5_079_806)
    assert output.created_at == datetime(2025, 5, 9, 13, 27, 34, 576590,
                                         tzinfo=timezone(timedelta(hours=-5)))

    run = read_lineage_store(
        FIXTURES / "lineage/gen3-envelope_WorkflowRun_from-LinEncoderTest.json").records
    (workflow_run,) = run.values()
    assert isinstance(workflow_run, WorkflowRun)
    assert workflow_run.workflow is not None and workflow_run.metadata is None
    assert workflow_run.workflow.script_files[0].checksum == ("78910", "nextflow", "standard")
    assert workflow_run.config["process"] == {
        "container": "quay.io/nextflow/bash", "executor": "local",
        "resourceLabels": {"owner": "xxx"}, "scratch": False}

    outputs = parse_view_output(
        (FIXTURES / "lineage/gen3-envelope_WorkflowOutput-view_output.json").read_text(),
        source="view")
    assert [(p.type, p.name) for p in outputs] == [("Collection", "samples"), ("Path", "summary")]


def write_record(store: Path, key: str, kind: str, spec: dict[str, object]) -> None:
    """A record as Nextflow writes it: compact envelope JSON, nulls kept."""
    (store / key).mkdir(parents=True, exist_ok=True)
    envelope = {"version": "lineage/v1beta1", "kind": kind, "spec": spec}
    (store / key / ".data.json").write_text(json.dumps(envelope, separators=(",", ":")))


def test_read_lineage_store(tmp_path: Path) -> None:
    store = tmp_path / ".lineage"
    other = "0123456789abcdef0123456789abcdef"
    run_lid, task_lid = f"lid://{RUN}", f"lid://{TASK}"
    write_record(store, RUN, "WorkflowRun", {
        "workflow": {"scriptFiles": [], "repository": None, "commitId": None},
        "sessionId": SESSION, "name": "happy_turing",
        "params": [{"type": "String", "name": "input", "value": "data/*.fq"}],
        "config": {}, "metadata": {"projectDir": "/p"}})
    write_record(store, TASK, "TaskRun", {
        "sessionId": SESSION, "name": "FASTQC (1)", "codeChecksum": None, "script": "echo",
        "eval": {"version": "fastqc --version"},
        "input": [{"type": "path", "name": "reads", "value": [f"lid://{other}/a.fq"]}],
        "container": None, "conda": None, "spack": None, "architecture": None,
        "globalVars": None, "binEntries": None, "workflowRun": run_lid,
        "moduleId": "nf-core/fastqc@1.0.0"})
    checksum = {"value": "b14f5171a48ce5c22ea27d7b8e57b6c4", "algorithm": "nextflow",
                "mode": "standard"}
    file_output = {"path": "s3://bucket/work/86/x/out/report.html", "checksum": checksum,
                   "source": task_lid, "workflowRun": run_lid, "taskRun": task_lid,
                   "size": 12, "createdAt": "2025-07-01T10:00:00.123456789Z",
                   "modifiedAt": None, "labels": None}
    write_record(store, f"{TASK}/out/report.html", "FileOutput", file_output)
    write_record(store, f"{RUN}/results/report.html", "FileOutput",
                 {**file_output, "source": f"{task_lid}/out/report.html", "taskRun": None,
                  "labels": ["qc"]})
    write_record(store, f"{TASK}#output", "TaskOutput", {
        "taskRun": task_lid, "workflowRun": run_lid, "createdAt": None, "labels": None,
        "output": [{"type": "path", "name": "html", "value": f"{task_lid}/out/report.html"}]})
    write_record(store, f"{RUN}#output", "WorkflowOutput", {
        "createdAt": "2025-07-01T10:00:01+02:00", "workflowRun": run_lid, "output": []})
    write_record(store, other, "AgentRun", {"sessionId": SESSION, "name": "ASK"})
    history = store / ".history"
    history.mkdir()
    (history / RUN).write_text(f"2025-07-01 10:00:00 UTC\thappy_turing\t{SESSION}\t{run_lid}")
    (history / other).write_text(f"2025-07-01 03:00:00 CDT\t-\t{SESSION}\t-\n")

    result = read_lineage_store(store)
    assert result.root == str(store)
    assert list(result.records) == sorted([
        RUN, f"{RUN}#output", f"{RUN}/results/report.html", TASK, f"{TASK}#output",
        f"{TASK}/out/report.html"])
    kinds = {key: type(record) for key, record in result.records.items()}
    assert kinds[RUN] is WorkflowRun and kinds[TASK] is TaskRun
    assert kinds[f"{TASK}#output"] is TaskOutput and kinds[f"{RUN}#output"] is WorkflowOutput
    task = result.records[TASK]
    assert isinstance(task, TaskRun)
    assert task.eval == {"version": "fastqc --version"} and task.global_vars == {}
    assert task.input[0].lids() == (f"lid://{other}/a.fq",)
    published = result.records[f"{RUN}/results/report.html"]
    assert isinstance(published, FileOutput)
    assert published.labels == ("qc",) and published.task_run is None
    assert published.created_at == datetime(2025, 7, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert result.skipped == (SkippedRecord(other, "AgentRun",
                                            "unsupported record kind 'AgentRun'"),)
    assert result.history == (
        HistoryEntry(other, datetime(2025, 7, 1, 3), "CDT", None, SESSION, None),
        HistoryEntry(RUN, datetime(2025, 7, 1, 10, tzinfo=UTC), "UTC", "happy_turing", SESSION,
                     run_lid),
    )
    # A single .data.json file is keyed by its directory.
    single = read_lineage_store(store / TASK / ".data.json")
    assert single.records == {TASK: task}


@pytest.mark.parametrize("path", RECORDS, ids=lambda p: p.name)
def test_malformed_lineage_variants(path: Path) -> None:
    text = path.read_text()
    prefix = "spec." if '"spec"' in text else ""
    required = "sessionId" if "WorkflowRun" in path.name else "workflowRun"

    def error(data: str | bytes) -> tuple[int | None, str | None]:
        with pytest.raises(IngestionError) as excinfo:
            parse_lineage_record(data, key="k", source=str(path))
        assert excinfo.value.source == str(path)
        return raise_info(excinfo)

    lines = text.split("\n")
    broken = lines[:]
    broken[3] = broken[3].replace('": ', '" ', 1)  # a missing colon on line 4
    assert error("\n".join(broken)) == (4, None)
    assert error(text[: len(text) // 2])[0] is not None  # truncated file

    record = json.loads(text)
    body = record["spec"] if prefix else record
    body[required] = 42
    assert error(json.dumps(record)) == (None, prefix + required)
    del body[required]
    assert error(json.dumps(record, indent=2)) == (None, prefix + required)
    body[required] = "lid://x"
    if "FileOutput" in path.name:
        body["size"] = "big"
        assert error(json.dumps(record)) == (None, prefix + "size")
        body["size"] = -1
        assert error(json.dumps(record)) == (None, prefix + "size")
        body["size"], body["createdAt"] = 1, "2025-05-09T13:27:34"
        assert error(json.dumps(record)) == (None, prefix + "createdAt")
        body["createdAt"] = "May 9th"
        assert error(json.dumps(record)) == (None, prefix + "createdAt")
        body["createdAt"], body["labels"] = None, ["qc", 7]
        assert error(json.dumps(record)) == (None, prefix + "labels[1]")
    if "TaskRun" in path.name:
        body["codeChecksum"]["value"] = None
        assert error(json.dumps(record)) == (None, prefix + "codeChecksum.value")
        body["codeChecksum"] = None
        body["input"][1]["name"] = 42
        assert error(json.dumps(record)) == (None, prefix + "input[1].name")
        body["input"] = {"not": "a list"}
        assert error(json.dumps(record)) == (None, prefix + "input")

    first_string = text.index('": "')  # a control or non-UTF-8 byte in the first string value
    string_line = text.count("\n", 0, first_string) + 1
    assert error(text.replace('": "', '": "\x00', 1)) == (string_line, None)
    assert error(text.replace('": "', '": "caf\u00e9', 1).encode("latin-1")) == (string_line,
                                                                                   None)
    assert error("[]") == (None, None)
    assert error('{"version": "lineage/v1beta1", "spec": {}}') == (None, "kind")
    assert error('{"kind": "TaskRun", "spec": null}') == (None, "spec")


def test_lineage_skips_and_store_errors(tmp_path: Path) -> None:
    skipped = parse_lineage_record('{"version": "lineage/v2", "kind": "TaskRun", "spec": {}}',
                                   key="k", source="s")
    assert skipped == SkippedRecord("k", "TaskRun", "unsupported lineage model version "
                                                    "'lineage/v2'")
    with pytest.raises(IngestionError, match="no such file"):
        read_lineage_store(tmp_path / "nope")
    with pytest.raises(IngestionError, match="expected an array") as excinfo:
        parse_view_output("{}", source="view")
    assert excinfo.value.source == "view"
    dangling = tmp_path / "dangling" / TASK
    dangling.mkdir(parents=True)
    (dangling / ".data.json").symlink_to(tmp_path / "gone.json")
    with pytest.raises(IngestionError, match="cannot read lineage record") as excinfo:
        read_lineage_store(tmp_path / "dangling")
    assert excinfo.value.source == str(dangling / ".data.json")

    store = tmp_path / "store"
    history = store / ".history"
    history.mkdir(parents=True)
    (history / RUN).write_text(f"2025-07-01 10:00:00 GMT-03:30\trun\t{SESSION}\tlid://{RUN}")
    (entry,) = read_lineage_store(store).history
    assert entry.timestamp == datetime(2025, 7, 1, 10, tzinfo=timezone(-timedelta(hours=3.5)))
    assert entry.timezone == "GMT-03:30"
    cases: list[tuple[str | bytes, str | None]] = [
        (f"2025-07-01 10:00:00 UTC\trun\t{SESSION}", None),
        (f"2025-07-01 10:00:00 UTC\trun\t{SESSION}\tlid://{RUN}\nmore", None),
        (f"2025-07-01 10:00:00 UTC\tcaf\u00e9\t{SESSION}\tlid://{RUN}".encode("latin-1"), None),
        (f"2025-02-30 10:00:00 UTC\trun\t{SESSION}\tlid://{RUN}", "timestamp"),
        (f"2025-07-01 10:00:00 UTC\trun\tnot-a-uuid\tlid://{RUN}", "sessionId"),
        (f"yesterday\trun\t{SESSION}\tlid://{RUN}", "timestamp"),
        (f"2025-07-01 10:00:00 UTC\trun\t{SESSION}\t{RUN}", "runLid"),
    ]
    for content, field in cases:
        (history / RUN).write_bytes(content.encode() if isinstance(content, str) else content)
        with pytest.raises(IngestionError) as excinfo:
            read_lineage_store(store)
        assert raise_info(excinfo) == (1, field)
        assert excinfo.value.source == str(history / RUN)
    (history / RUN).unlink()
    (store / ".data.json").write_text("{}")
    with pytest.raises(IngestionError, match="store root has no key"):
        read_lineage_store(store)


# --- weblog -------------------------------------------------------------------------------


def test_weblog_process_completed() -> None:
    event = parse_weblog_event((WEBLOG / "nextflow-docs-2019_process_completed.json").read_bytes())
    assert (event.run_name, event.run_id, event.event) == (
        "friendly_pesquet", "170aa09c-105f-49d0-99b4-8eb6a146e4a7",
        WeblogEventType.PROCESS_COMPLETED)
    assert event.utc_time == datetime(2018, 10, 7, 11, 45, 30, tzinfo=UTC)
    assert event.metadata is None and event.trace is not None
    row = event.trace
    assert (row.line, row.task_id, row.hash, row.native_id, row.status, row.exit) == (
        None, 2, "a1/0024fd", "27185", TaskStatus.COMPLETED, 0)
    assert (row.process, row.tag, row.attempt, row.first_attempt_task_id) == (
        "make_ot_config", None, 1, 2)
    metrics = row.metrics
    assert metrics["submit"] == "2018-10-07T11:42:09.498+00:00"
    assert (metrics["duration"], metrics["realtime"], metrics["time"]) == (201101, 69, 7_200_000)
    assert (metrics["memory"], metrics["peak_rss"], metrics["%cpu"]) == (7516192768, 574972928,
                                                                         0.0)
    assert (metrics["module"], metrics["disk"], metrics["cpus"]) == (None, None, 1)


def test_weblog_started_shapes() -> None:
    old = parse_weblog_event((WEBLOG / "nextflow-docs-v18.10_started_runStatus.json").read_text())
    assert old.event is WeblogEventType.STARTED and old.metadata is None and old.trace is None

    documented = (WEBLOG / "nextflow-docs-2019_started_hlatyping.json").read_text()
    with pytest.raises(IngestionError, match="invalid JSON") as excinfo:
        parse_weblog_event(documented)
    assert (excinfo.value.source, excinfo.value.line) == ("weblog", 70)
    fixed, count = re.subn(r"\},(\s*\},\s*\"stats\")", r"}\1", documented)
    assert count == 1
    event = parse_weblog_event(fixed)
    assert event.event is WeblogEventType.STARTED and event.metadata is not None
    assert event.metadata.workflow["runName"] == "shrivelled_cantor"
    assert event.metadata.params["solver"] == "glpk"

    # What Nextflow has actually sent since 20.01: "parameters", not "params".
    body = json.loads(fixed)
    body["metadata"]["parameters"] = body["metadata"].pop("params")
    event = parse_weblog_event(json.dumps(body))
    assert event.metadata is not None and event.metadata.params["solver"] == "glpk"


def test_weblog_running_task() -> None:
    body = json.loads((WEBLOG / "nextflow-docs-2019_process_completed.json").read_text())
    body["event"] = "process_submitted"
    body["trace"].update(status="SUBMITTED", exit=2**31 - 1, attempt=2, native_id=None,
                         complete=0, tag="sample 1")
    row = parse_weblog_event(json.dumps(body)).trace
    assert row is not None
    assert (row.status, row.exit, row.attempt, row.first_attempt_task_id) == (
        TaskStatus.SUBMITTED, None, 2, None)
    assert (row.native_id, row.tag, row.metrics["complete"]) == (None, "sample 1", None)


def test_weblog_trace_value_shapes() -> None:
    body = json.loads((WEBLOG / "nextflow-docs-2019_process_completed.json").read_text())
    body["trace"].update({"module": ["blast/2.2", "samtools"], "%cpu": None, "%mem": 5,
                          "spot": True, "resources": {"gpu": 1}, "cpus": "2"})
    row = parse_weblog_event(json.dumps(body)).trace
    assert row is not None
    assert (row.metrics["module"], row.metrics["%cpu"], row.metrics["%mem"]) == (
        "[blast/2.2, samtools]", None, 5.0)
    assert (row.metrics["spot"], row.metrics["resources"], row.metrics["cpus"]) == (
        "true", '{"gpu": 1}', 2)


def test_malformed_weblog() -> None:
    good = json.loads((WEBLOG / "nextflow-docs-2019_process_completed.json").read_text())

    def error(body: object) -> tuple[int | None, str | None]:
        data = body if isinstance(body, str | bytes) else json.dumps(body)
        with pytest.raises(IngestionError) as excinfo:
            parse_weblog_event(data)
        assert excinfo.value.source == "weblog"
        return raise_info(excinfo)

    def variant(**changes: object) -> dict[str, object]:
        body: dict[str, object] = json.loads(json.dumps(good))
        for key, value in changes.items():
            if value is None:
                del body[key]
            else:
                body[key] = value
        return body

    def trace_variant(key: str, value: object) -> dict[str, object]:
        body = variant()
        body["trace"][key] = value  # type: ignore[index]
        return body

    assert error('{"runId": "x",\n "event": }') == (2, None)
    assert error("[1, 2]") == (None, None)
    assert error(b'{"runName": "caf\xe9"}') == (1, None)
    assert error('{"utcTime": NaN}') == (None, None)
    assert error(variant(runId=None)) == (None, "runId")
    assert error(variant(event=None)) == (None, "runStatus")
    assert error(variant(event="process_exploded")) == (None, "event")
    assert error(variant(event=7)) == (None, "event")
    assert error(variant(utcTime="last tuesday")) == (None, "utcTime")
    assert error(variant(utcTime="2018-10-07T11:45:30")) == (None, "utcTime")
    assert error(variant(runName=5)) == (None, "runName")
    assert error(variant(trace=None)) == (None, "trace")
    assert error(variant(trace=[1])) == (None, "trace")
    assert error(variant(metadata={"workflow": []})) == (None, "metadata.workflow")
    assert error(variant(metadata={"params": "x"})) == (None, "metadata.params")
    assert error(trace_variant("%cpu", "lots")) == (None, "trace.%cpu")
    assert error(trace_variant("memory", -1)) == (None, "trace.memory")
    assert error(trace_variant("submit", {"ms": 1})) == (None, "trace.submit")
    assert error(trace_variant("task_id", None)) == (None, "trace.task_id")
    assert error(trace_variant("status", "EXPLODED")) == (None, "trace.status")
    assert error(trace_variant("name", "")) == (None, "trace.name")
    assert error(trace_variant("exit", 1.5)) == (None, "trace.exit")
    assert error(trace_variant("%mem", [1])) == (None, "trace.%mem")


@pytest.mark.parametrize(
    ("column", "value"),
    [("duration", str(10**20)), ("realtime", "99999999999d"), ("duration", "3000000d"),
     ("peak_rss", str(2**70)), ("rchar", str(2**63)), ("exit", str(2**64)),
     ("exit", str(-(2**63) - 1)), ("task_id", str(2**70))],
)
def test_out_of_range_trace_values_are_located(column: str, value: str) -> None:
    """Values no run can hold (durations past the year 9999 from any submit, integers
    beyond 64 bits) are refused where they stand, not turned into floats or a traceback."""
    header = ["task_id", "name", "status", column] if column != "task_id" else \
        ["task_id", "name", "status"]
    row = ["1", "A (1)", "COMPLETED", value][: len(header)]
    if column == "task_id":
        row[0] = value
    text = "\t".join(header) + "\n" + "\t".join(row) + "\n"
    line, field, reason = parse_error(text)
    assert (line, field) == (2, column)
    assert "out of range" in reason


def test_in_range_extremes_still_parse() -> None:
    text = "task_id\tname\tstatus\tpeak_rss\tduration\n" \
        f"1\tA (1)\tCOMPLETED\t{2**63 - 1}\t36500d\n"
    row = parse_trace_text(text, source="t.txt").rows[0]
    assert row.metrics["peak_rss"] == 2**63 - 1
    assert row.metrics["duration"] == 36500 * 86_400_000

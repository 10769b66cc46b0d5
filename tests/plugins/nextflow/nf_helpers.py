"""Builders for the Nextflow adapter tests: lineage stores, work directories, weblog replays.

Everything is assembled from the fixture files in ``tests/fixtures/nextflow``:
real trace rows, real lineage record shapes; only paths and keys are rewritten to point into
a temporary directory.
"""

from __future__ import annotations

import hashlib
import json
import socket
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import fl_fixtures
import flowlineage as fl
from flowlineage.db.engine import get_instance
from flowlineage.db.tables import artifact_recreating_run, run_input_artifact
from flowlineage.db.tables import run_feature_value as RunFeatureValue
from flowlineage_nextflow.trace import TaskStatus, TraceRow, parse_trace
from sqlalchemy import func, select

FIXTURES = fl_fixtures.FIXTURES / "nextflow"
TRACES = FIXTURES / "trace"
LINEAGE = FIXTURES / "lineage"

RUN = "16b31030474f2e96c55f4940bca3ab64"
"""The run hash the fixture records point at."""
TASK = "862df53160e07cd823c0c3960545e747"
"""MULTIQC, the task in the fixture records."""
QUANT = "eff8846883b46c5a76f11e7e4480a6c8"
FASTQC = "2d8bd92c69f732605bc99941e60d5319"
SESSION = "065bdc6b-89b4-42ee-92c1-2a5af37f2c50"

TOKEN = "s3cret-token"
"""The weblog receiver's token."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Receiver:
    """A running weblog receiver: ``url`` includes the token path."""

    base: str
    url: str
    token: str


def counts() -> tuple[int, int, int, int, int]:
    """Runs, transforms, artifacts, feature values and link rows in the instance."""
    with get_instance().read() as s:
        features = s.scalar(select(func.count()).select_from(RunFeatureValue))
        links = s.scalar(select(func.count()).select_from(run_input_artifact))
        recreated = s.scalar(select(func.count()).select_from(artifact_recreating_run))
    return (fl.Run.filter().count(), fl.Transform.filter().count(), fl.Artifact.filter().count(),
            int(features or 0), int(links or 0) + int(recreated or 0))


def fixture_json(name: str) -> Any:
    return json.loads((LINEAGE / name).read_text())


def _spec(record: dict[str, Any]) -> dict[str, Any]:
    """The fields of a record of any generation (the envelope's spec, or the record)."""
    spec = record.get("spec", record)
    assert isinstance(spec, dict)
    return spec


def _write_record(store: Path, key: str, record: Any) -> None:
    folder = store / key
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".data.json").write_text(json.dumps(record, separators=(",", ":")))


def work_dir(work: Path, task_hash: str) -> Path:
    """A task's work directory for a 32-hex hash (``ab/cdef…``)."""
    return work / task_hash[:2] / task_hash[2:]


@dataclass
class LineageTree:
    """A synthetic ``.lineage`` store and the files its records describe."""

    store: Path
    work: Path
    results: Path
    report: Path
    """MULTIQC's report in its work directory (on disk)."""
    published: Path
    """The published copy of the report (on disk, same bytes)."""
    fastqc_logs: Path
    """FASTQC's output (on disk)."""
    reads: Path
    """An external input file (on disk)."""
    absent: dict[str, str] = field(default_factory=dict)
    """LID -> checksum of file records whose files are not on disk."""


def build_lineage_store(tmp: Path) -> LineageTree:
    """A store with one run, three tasks (gen1, gen2 and gen3 record shapes), five file
    outputs (three on disk), a WorkflowOutput and a history entry."""
    store, work, results = tmp / ".lineage", tmp / "work", tmp / "results"
    reads = tmp / "data" / "ggal_gut_1.fq"
    reads.parent.mkdir(parents=True)
    reads.write_text("@r1\nACGT\n+\nIIII\n")
    report = work_dir(work, TASK) / "multiqc_report.html"
    report.parent.mkdir(parents=True)
    report.write_text("<html>multiqc report</html>\n")
    published = results / "multiqc_report.html"
    published.parent.mkdir(parents=True)
    published.write_bytes(report.read_bytes())
    logs = work_dir(work, FASTQC) / "fastqc_ggal_gut_logs"
    logs.parent.mkdir(parents=True)
    logs.write_text("fastqc ok\n")
    reads_input = {"path": str(reads), "checksum": {
        "value": "5e0c0ab4a4b7c52f1e0b2d2b1c0c9a11", "algorithm": "nextflow", "mode": "standard"}}

    run = fixture_json("gen3-envelope_WorkflowRun_from-LinEncoderTest.json")
    _write_record(store, RUN, run)
    multiqc = fixture_json("gen3-envelope_TaskRun_MULTIQC.json")
    _write_record(store, TASK, multiqc)
    quant = fixture_json("gen2-versioned-flat_TaskRun_MULTIQC.json")
    quant.update(name="QUANT (ggal_gut)", input=[{"type": "path", "name": "reads",
                                                  "value": [reads_input]}])
    _write_record(store, QUANT, quant)
    fastqc = fixture_json("gen1-25.04_TaskRun_MULTIQC.json")
    fastqc.update(name="FASTQC (ggal_gut)", input=[{"type": "path", "name": "reads",
                                                    "value": reads_input}])
    _write_record(store, FASTQC, fastqc)

    task_output = fixture_json("gen3-envelope_FileOutput_task-output.json")
    _spec(task_output)["path"] = str(report)
    _write_record(store, f"{TASK}/multiqc_report.html", task_output)
    workflow_output = fixture_json("gen1-25.04_FileOutput_workflow-output.json")
    workflow_output["path"] = published.as_uri()
    _write_record(store, f"{RUN}/multiqc_report.html", workflow_output)
    logs_record = fixture_json("gen2-versioned-flat_FileOutput_task-output.json")
    logs_record.update(path=str(logs), source=f"lid://{FASTQC}", taskRun=f"lid://{FASTQC}")
    _write_record(store, f"{FASTQC}/fastqc_ggal_gut_logs", logs_record)
    absent = {}
    quant_out = fixture_json("gen2-versioned-flat_FileOutput_task-output.json")
    quant_out.update(path=str(work_dir(work, QUANT) / "ggal_gut"), source=f"lid://{QUANT}",
                     taskRun=f"lid://{QUANT}")
    quant_out["checksum"]["value"] = "9f1e2d3c4b5a69788796a5b4c3d2e1f0"
    absent[f"lid://{QUANT}/ggal_gut"] = quant_out["checksum"]["value"]
    _write_record(store, f"{QUANT}/ggal_gut", quant_out)
    remote = fixture_json("gen3-envelope_FileOutput_workflow-output.json")
    remote["spec"].update(path="s3://nf-results/rnaseq/samples.json",
                          source=f"lid://{TASK}/multiqc_report.html")
    remote["spec"]["checksum"]["value"] = "0123456789abcdef0123456789abcdef"
    absent[f"lid://{RUN}/samples.json"] = remote["spec"]["checksum"]["value"]
    _write_record(store, f"{RUN}/samples.json", remote)

    outputs = json.loads((LINEAGE / "gen3-envelope_WorkflowOutput-view_output.json").read_text()
                         .replace("9410d13abeec617640b5fe9735ba12fc", RUN))
    _write_record(store, f"{RUN}#output", {
        "version": "lineage/v1beta1", "kind": "WorkflowOutput", "spec": {
            "createdAt": "2025-05-09T13:27:35.000000000-05:00",
            "workflowRun": f"lid://{RUN}", "output": outputs}})
    history = store / ".history"
    history.mkdir()
    (history / RUN).write_text(
        f"2025-05-09 18:27:10 UTC\tfriendly_pesquet\t{SESSION}\tlid://{RUN}\n")
    return LineageTree(store, work, results, report, published, logs, reads, absent)


# --------------------------------------------------------------------------- work dirs


def full_hash(short: str) -> str:
    """A 32-hex task hash extending a trace hash (``ab/123456``) deterministically."""
    head = short.replace("/", "")
    return head + hashlib.md5(head.encode()).hexdigest()[: 32 - len(head)]


@dataclass
class Workspace:
    """A work directory for the tasks of a trace: per task hash its directory and files."""

    work: Path
    inputs: Path
    outputs: dict[str, list[Path]] = field(default_factory=dict)
    links: dict[str, list[Path]] = field(default_factory=dict)
    """Task hash -> the real files its input links point to."""


def build_work_dir(tmp: Path, rows: list[TraceRow]) -> Workspace:
    """Task directories for ``rows`` (in order), as Nextflow leaves them.

    Each task has Nextflow's helper files, an output file (content unique to the task), and an
    output folder with one file; each task after the first stages the previous task's output
    file as an input link; the first task stages a file from outside the work tree; the last
    task also stages its predecessor's whole output folder.
    """
    space = Workspace(tmp / "work", tmp / "inputs")
    space.inputs.mkdir(parents=True)
    external = space.inputs / "samples.csv"
    external.write_text("sample,reads\nA,a.fq\n")
    previous: Path | None = None
    previous_folder: Path | None = None
    for i, row in enumerate(rows):
        assert row.hash is not None
        folder = space.work / full_hash(row.hash)[:2] / full_hash(row.hash)[2:]
        folder.mkdir(parents=True)
        for helper in (".command.sh", ".command.run", ".command.out", ".command.err",
                       ".command.log", ".command.begin", ".exitcode"):
            (folder / helper).write_text(f"{helper} of {row.name}\n")
        out = folder / f"out_{i}.txt"
        out.write_text(f"output of {row.name} ({row.task_id})\n")
        sub = folder / "results"
        sub.mkdir()
        (sub / "table.tsv").write_text(f"task\t{row.task_id}\n")
        space.outputs[row.hash] = [out, sub / "table.tsv"]
        target = previous if previous is not None else external
        (folder / target.name).symlink_to(target)
        space.links[row.hash] = [target]
        if i == len(rows) - 1 and previous_folder is not None:
            (folder / "upstream_results").symlink_to(previous_folder, target_is_directory=True)
            space.links[row.hash].append(previous_folder / "table.tsv")
        previous, previous_folder = out, sub
    return space


# --------------------------------------------------------------------------- weblog


def epoch_ms(iso: Any) -> int:
    """Epoch milliseconds of a trace time (naive: local time, as trace files write it)."""
    return int(datetime.fromisoformat(str(iso)).astimezone().timestamp() * 1000)


def raw_trace(row: TraceRow, status: TaskStatus, fields: tuple[str, ...]) -> dict[str, Any]:
    """The raw-valued weblog ``trace`` object Nextflow would send for a trace row."""
    trace: dict[str, Any] = {"task_id": row.task_id, "status": status.value, "name": row.name,
                             "attempt": row.attempt}
    if row.hash is not None:
        trace["hash"] = row.hash
    if row.native_id is not None:
        trace["native_id"] = row.native_id
    if status in (TaskStatus.SUBMITTED, TaskStatus.RUNNING):
        if row.metrics.get("submit") is not None:
            trace["submit"] = epoch_ms(row.metrics["submit"])
        return trace
    trace["exit"] = row.exit
    for name in fields:
        value = row.metrics.get(name)
        trace[name] = epoch_ms(value) if name == "submit" and value is not None else value
    return trace


def weblog_events(path: Path, run_id: str, pipeline: str) -> tuple[
        dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """``started``, every task's submitted/started/completed events, and ``completed``."""
    trace = parse_trace(path)
    fields = tuple(c for c in trace.columns if c not in (
        "task_id", "hash", "native_id", "name", "status", "exit"))
    envelope = {"runName": "weblog_replay", "runId": run_id, "utcTime": "2021-03-04T21:06:00Z"}
    started = {**envelope, "event": "started", "metadata": {
        "workflow": {"manifest": {"name": pipeline}, "start": "2021-03-04T21:06:00Z"},
        "parameters": {"input": "samples.csv"}}}
    tasks = []
    for row in trace.rows:
        tasks.append({**envelope, "event": "process_submitted",
                      "trace": raw_trace(row, TaskStatus.SUBMITTED, fields)})
        tasks.append({**envelope, "event": "process_started",
                      "trace": raw_trace(row, TaskStatus.RUNNING, fields)})
        tasks.append({**envelope, "event": "process_completed",
                      "trace": raw_trace(row, row.status, fields)})
    completed = {**envelope, "event": "completed", "utcTime": "2021-03-05T01:00:00Z",
                 "metadata": {"workflow": {"manifest": {"name": pipeline}, "success": True,
                                           "complete": "2021-03-05T01:00:00Z"}}}
    return started, tasks, completed

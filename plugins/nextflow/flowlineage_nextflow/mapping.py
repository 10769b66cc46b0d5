"""The one mapping from Nextflow task records to flowlineage runs.

Trace ingestion, the weblog receiver and live nextflowpy runs all build their run rows and
run features here, so a task recorded through any of them ends up as the same Run.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from hashlib import blake2b
from pathlib import Path
from typing import Any

from .trace import Metric, TaskStatus, TraceRow

WORKFLOW_REFERENCE = "nextflow_run"
"""``reference_type`` of a workflow run (reference: run id, session id or ``lid://<hash>``)."""
TASK_REFERENCE = "nextflow_task"
"""``reference_type`` of a task run (reference: ``<run id>:<hash>`` or ``lid://<hash>``)."""
DEFAULT_PIPELINE = "unnamed"
"""Pipeline key used when nothing names the pipeline."""

RUN_STATUS = {
    TaskStatus.NEW: "scheduled",
    TaskStatus.SUBMITTED: "scheduled",
    TaskStatus.RUNNING: "started",
    TaskStatus.COMPLETED: "completed",
    TaskStatus.CACHED: "completed",
    TaskStatus.FAILED: "errored",
    TaskStatus.ABORTED: "aborted",
}
"""Run status of each Nextflow task status."""

FINAL = frozenset({"completed", "errored", "aborted"})
RANK = {"scheduled": 0, "restarted": 0, "started": 1, "completed": 2, "errored": 2, "aborted": 2}
"""How far a status is along a run's life; an update never lowers it."""

NOT_FEATURES = frozenset({"submit", "start", "complete", "script", "env"})
"""Trace fields kept out of run features: times become ``started_at``/``finished_at``; the
task script and environment are large and may hold secrets."""

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BASE62_PAIRS = [low + high for high in _BASE62 for low in _BASE62]  # index: low + 62 * high
_UID_SPACE = 62**16


def pipeline_key(pipeline: str) -> str:
    """Transform key of a pipeline: ``nextflow:<pipeline>``."""
    return f"nextflow:{pipeline}"


def process_key(pipeline: str, process: str) -> str:
    """Transform key of a process: ``nextflow:<pipeline>:<process>``."""
    return f"nextflow:{pipeline}:{process}"


def task_reference(run_id: str, task_hash: str | None, task_id: int) -> str:
    """``<run id>:<hash>``, or ``<run id>:task_id:<id>`` for traces without a hash column."""
    return f"{run_id}:{task_hash}" if task_hash else f"{run_id}:task_id:{task_id}"


def run_uid(reference_type: str, reference: str) -> str:
    """A run uid derived from the run's reference (16 base62 characters).

    Deriving it makes re-ingestion and ``restart_of`` links independent of database reads.
    """
    digest = blake2b(f"{reference_type}\0{reference}".encode(), digest_size=12).digest()
    number = int.from_bytes(digest) % _UID_SPACE
    pairs = []
    for _ in range(8):  # base62 digits, least significant first, two at a time
        number, pair = divmod(number, 3844)
        pairs.append(_BASE62_PAIRS[pair])
    return "".join(pairs)


def aware(value: datetime) -> datetime:
    """A timezone-aware UTC time; naive times (trace files, nextflow logs) are local time."""
    return value.astimezone(UTC)  # a naive value is taken as local time


def _moment(value: Metric) -> datetime | None:
    return aware(datetime.fromisoformat(value)) if isinstance(value, str) else None


def _ms(value: Metric) -> int | None:
    return value if isinstance(value, int) else None


def task_times(metrics: dict[str, Metric]) -> tuple[datetime | None, datetime | None]:
    """``(started_at, finished_at)`` of a task from its trace fields.

    Start: ``start``, else ``submit`` + (``duration`` - ``realtime``), else ``submit``.
    End: ``complete``, else ``submit`` + ``duration``, else start + ``realtime``.
    """
    start, complete = _moment(metrics.get("start")), _moment(metrics.get("complete"))
    duration, realtime = _ms(metrics.get("duration")), _ms(metrics.get("realtime"))
    submit = _moment(metrics.get("submit")) if start is None or complete is None else None
    if start is None and submit is not None:
        queued = duration - realtime if duration is not None and realtime is not None else 0
        start = submit + timedelta(milliseconds=max(queued, 0))
    if complete is None:
        if submit is not None and duration is not None:
            complete = submit + timedelta(milliseconds=duration)
        elif start is not None and realtime is not None:
            complete = start + timedelta(milliseconds=realtime)
    return start, complete


def task_run_row(row: TraceRow, run_id: str, workflow_run_id: int, transform_id: int,
                 times: tuple[datetime | None, datetime | None] | None = None) -> dict[str, Any]:
    """The Run row (for ``upsert_runs``) of a task record of workflow run ``run_id``;
    ``times`` are its :func:`task_times` if known."""
    reference = task_reference(run_id, row.hash, row.task_id)
    status = RUN_STATUS[row.status]
    started, finished = times or task_times(row.metrics)
    return {
        "uid": run_uid(TASK_REFERENCE, reference),
        "reference_type": TASK_REFERENCE,
        "reference": reference,
        "transform_id": transform_id,
        "name": row.name,
        "status": status,
        "started_at": None if status == "scheduled" else started,
        "finished_at": finished if status in FINAL else None,
        "initiated_by_run_id": workflow_run_id,
    }


def task_features(row: TraceRow) -> dict[str, Any]:
    """Run features of a task record: ``task_id``, ``native_id``, ``exit``, ``attempt`` (when
    above 1), ``cached`` (CACHED tasks) and every other non-empty trace field, typed
    (durations in ms, sizes in bytes, percentages as floats)."""
    features: dict[str, Any] = {"task_id": row.task_id}
    if row.native_id is not None:
        features["native_id"] = row.native_id
    if row.exit is not None:
        features["exit"] = row.exit
    if row.attempt is not None and row.attempt > 1:
        features["attempt"] = row.attempt
    if row.status is TaskStatus.CACHED:
        features["cached"] = True
    for name, value in row.metrics.items():
        if value is not None and name not in NOT_FEATURES:
            features[name] = value
    return features


def last_per_reference(rows: Iterable[tuple[str, TraceRow]]) -> dict[str, TraceRow]:
    """One record per task reference: a task written twice keeps its later record."""
    latest: dict[str, TraceRow] = {}
    for reference, row in rows:
        latest.pop(reference, None)
        latest[reference] = row
    return latest


def workflow_status(rows: Iterable[TraceRow]) -> str:
    """The workflow run's status from its task records.

    ``aborted`` if any task was ABORTED; else ``errored`` if the last attempt of some task
    FAILED (retries that end COMPLETED are fine; failures ignored by ``errorStrategy
    'ignore'`` count as errors: the trace does not say which strategy applied); else
    ``completed`` (also for a run without tasks).
    """
    last: dict[tuple[str, int], TraceRow] = {}
    for row in rows:
        if row.status is TaskStatus.ABORTED:
            return "aborted"
        chain = (row.name, row.first_attempt_task_id or row.task_id)
        if chain not in last or row.task_id >= last[chain].task_id:
            last[chain] = row
    if any(row.status is TaskStatus.FAILED for row in last.values()):
        return "errored"
    return "completed"


def recorded_pipeline(run_ref: str) -> str | None:
    """The pipeline a workflow run was recorded under before (re-ingesting a file under
    another name or folder keeps it, leaving no orphan transform), if any."""
    import flowlineage as fl

    run = fl.Run.filter(reference_type=WORKFLOW_REFERENCE, reference=run_ref).first()
    key = run.transform.key if run is not None else ""
    return key.removeprefix("nextflow:") if key.startswith("nextflow:") else None


def transform_id(key: str, type: str, description: str | None = None) -> int:
    """The id of the transform with ``key``, created if needed, usable inside a transaction."""
    from flowlineage.adapters import get_instance, get_or_create_transform

    tf = get_or_create_transform(key, type=type, description=description)
    if tf.id is None:  # created inside the caller's open transaction: not flushed yet
        with get_instance().write() as session:
            session.flush()
    return tf.id


@dataclass
class IngestResult:
    """What one ingestion wrote (counts include records that were already there)."""

    source: str
    workflow_runs: dict[str, int] = field(default_factory=dict)
    """Workflow Run id by reference."""
    task_runs: int = 0
    status_counts: dict[str, int] = field(default_factory=dict)
    """Task runs per run status."""
    artifacts: int = 0
    """Output artifacts recorded (created, or already known and linked)."""
    input_links: int = 0
    collections: int = 0
    """Collections recorded for workflow outputs."""
    duplicate_lines: tuple[int, ...] = ()
    skipped: list[str] = field(default_factory=list)
    """Why some records or files were not recorded."""
    notes: list[str] = field(default_factory=list)
    """What the user may want to do (e.g. name the pipeline)."""

    @property
    def run_id(self) -> int:
        """The id of the workflow Run (the first one when a store holds several)."""
        return next(iter(self.workflow_runs.values()))

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary."""
        return {
            "source": self.source, "workflow_runs": self.workflow_runs,
            "task_runs": self.task_runs, "status_counts": self.status_counts,
            "artifacts": self.artifacts, "input_links": self.input_links,
            "collections": self.collections,
            "duplicate_lines": list(self.duplicate_lines), "skipped": self.skipped,
            "notes": self.notes,
        }


def default_pipeline(path: str | os.PathLike[str]) -> str:
    """The pipeline key implied by a script's path: its name up to the first dot."""
    return os.path.basename(os.fspath(path)).split(".", 1)[0] or DEFAULT_PIPELINE


OUTPUT_FOLDERS = frozenset({"pipeline_info", "results", "reports", "report", "output",
                            "outputs", "outdir", "trace", "traces", "logs", "log"})
"""Folders pipelines put trace files in (``results/pipeline_info/``), named for what they
hold rather than for the pipeline: skipped when a trace's folder names its pipeline."""


def folder_pipeline(path: str | os.PathLike[str]) -> str:
    """The pipeline a bare trace file belongs to: the first folder above it that is no
    conventional output folder (``proj/results/pipeline_info/trace.txt`` -> ``proj``), so
    every trace of one project (``trace.txt``, rotated ``trace.txt.1``) shares it."""
    folder = Path(os.path.abspath(os.fspath(path))).parent
    while folder.name.lower() in OUTPUT_FOLDERS and folder.parent != folder:
        folder = folder.parent
    return folder.name or DEFAULT_PIPELINE


def script_pipeline(script: str | None, project_dir: str | None = None,
                    repository: str | None = None) -> str:
    """A pipeline key from how a run was launched: ``owner/repo`` for a repository (URL or
    ``nextflow run owner/repo``), else ``<project folder>/<script>`` for a local script, so
    two projects' ``main.nf`` stay apart."""
    for name in (repository, script):
        if name and ("://" in name or (name.count("/") == 1 and not name.endswith(".nf")
                                       and not name.startswith((".", "/")))):
            return "/".join(name.split("://", 1)[-1].rstrip("/").split("/")[-2:]).removesuffix(
                ".git")
    if not script:
        return DEFAULT_PIPELINE
    base = os.path.basename(script)
    folder = os.path.basename(os.path.dirname(script)) or (
        os.path.basename(project_dir.rstrip("/")) if project_dir else "")
    return f"{folder}/{base}" if folder else base

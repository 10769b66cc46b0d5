"""Record batches of weblog events: each batch is one transaction, events may come in any order.

A task event maps to its Run exactly as a trace row does (:mod:`.mapping`), keyed
``<runId>:<hash>``, so a weblog-fed run and the trace file of the same run agree. A run's status
never moves backwards: an event ranking below what is recorded (``process_started`` after
``process_completed``, ``error`` after ``completed``) is dropped, and repeating an event
changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .mapping import (
    DEFAULT_PIPELINE,
    FINAL,
    RANK,
    RUN_STATUS,
    TASK_REFERENCE,
    WORKFLOW_REFERENCE,
    aware,
    pipeline_key,
    process_key,
    run_uid,
    task_features,
    task_reference,
    task_run_row,
    transform_id,
)
from .trace import TraceRow
from .units import Json
from .weblog_events import WeblogEvent, WeblogEventType

if TYPE_CHECKING:
    from flowlineage import Run

_WORKFLOW_EVENTS = frozenset({WeblogEventType.STARTED, WeblogEventType.COMPLETED,
                              WeblogEventType.ERROR})


@dataclass
class Known:
    """What the writer learned from committed batches: transform ids by key, and per weblog
    run id its workflow Run id and pipeline. Entries of a batch are kept only once it
    committed (a rolled-back batch may have created rows that do not exist)."""

    transforms: dict[str, int] = field(default_factory=dict)
    workflows: dict[str, tuple[int, str]] = field(default_factory=dict)
    _transforms: dict[str, int] = field(default_factory=dict)
    _workflows: dict[str, tuple[int, str]] = field(default_factory=dict)

    def transform(self, key: str, type: str) -> int:
        """The id of the transform ``key`` (created in the current transaction if new)."""
        found = self.transforms.get(key) or self._transforms.get(key)
        if found is None:
            found = self._transforms[key] = transform_id(key, type)
        return found

    def workflow(self, run_id: str) -> tuple[int, str] | None:
        """``(workflow Run id, pipeline)`` of a weblog run id, if known."""
        return self.workflows.get(run_id) or self._workflows.get(run_id)

    def committed(self, ok: bool) -> None:
        """Keep (or, after a rollback, forget) what the last batch learned."""
        if ok:
            self.transforms.update(self._transforms)
            self.workflows.update(self._workflows)
        self._transforms.clear()
        self._workflows.clear()


def pipeline_of(event: WeblogEvent) -> str | None:
    """The pipeline a ``started``/``completed`` event names (manifest name, project, script)."""
    if event.metadata is None:
        return None
    workflow = event.metadata.workflow
    manifest = workflow.get("manifest")
    for value in (manifest.get("name") if isinstance(manifest, dict) else None,
                  workflow.get("projectName"), workflow.get("scriptName")):
        if isinstance(value, str) and value:
            return value
    return None


def _time(value: Json) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return aware(datetime.fromisoformat(value))
    except ValueError:
        return None


def record_events(events: Sequence[WeblogEvent], known: Known,
                  default_pipeline: str | None = None) -> None:
    """Write a batch of events in one transaction (the caller's, if one is open).

    Call ``known.committed()`` after the transaction ended.
    """
    from flowlineage.adapters import get_instance

    with get_instance().write():
        _record_workflows(events, known, default_pipeline or DEFAULT_PIPELINE)
        retried = _record_tasks(events, known)
        for event in events:
            if event.event is WeblogEventType.COMPLETED:
                retried.add((event.run_id, None))
        for run_id, name in sorted(retried, key=lambda item: (item[0], item[1] or "")):
            workflow = known.workflow(run_id)
            assert workflow is not None
            link_restarts(workflow[0], name)


def _runs(reference_type: str, references: list[str]) -> list[Run]:
    import flowlineage as fl

    found = []
    for start in range(0, len(references), 500):
        found.extend(fl.Run.filter(reference_type=reference_type,
                                   reference__in=references[start : start + 500]).all())
    return found


def _record_workflows(events: Sequence[WeblogEvent], known: Known, default: str) -> None:
    """Create the workflow Runs not seen yet, and apply workflow events."""
    import flowlineage as fl
    from flowlineage.adapters import RunStatus, upsert_runs

    touched = sorted({e.run_id for e in events
                      if e.event in _WORKFLOW_EVENTS or known.workflow(e.run_id) is None})
    if not touched:
        return
    existing = {str(r.reference): r for r in _runs(WORKFLOW_REFERENCE, touched)}
    pipelines: dict[str, str] = {}
    for run_id, found in existing.items():
        cached = known.workflow(run_id)
        pipelines[run_id] = (cached[1] if cached is not None else
                             fl.Transform.get(found.transform_id).key.removeprefix("nextflow:"))
    rows: dict[str, dict[str, Any]] = {}
    for event in events:
        if event.run_id not in touched:
            continue
        named = pipeline_of(event)
        if named is not None:
            pipelines[event.run_id] = named
        row = rows.get(event.run_id)
        if row is None:
            run = existing.get(event.run_id)
            row = rows[event.run_id] = {
                "uid": run_uid(WORKFLOW_REFERENCE, event.run_id),
                "reference_type": WORKFLOW_REFERENCE, "reference": event.run_id,
                "status": RunStatus.name_of(run._status_code) if run is not None else "started",
            }
            if run is None:
                row.update(name=event.run_name, started_at=event.utc_time)
        if event.event in _WORKFLOW_EVENTS:
            _apply_workflow_event(row, event)
    for run_id, row in rows.items():
        pipeline = pipelines.setdefault(run_id, default)
        row["transform_id"] = known.transform(pipeline_key(pipeline), "pipeline")
    ids = upsert_runs(list(rows.values()))
    for run_id in rows:
        known._workflows[run_id] = (ids[(WORKFLOW_REFERENCE, run_id)], pipelines[run_id])


def _apply_workflow_event(row: dict[str, Any], event: WeblogEvent) -> None:
    """``started`` starts a run, ``completed`` ends it (completed or errored by its success
    flag) and ``error`` marks it errored unless it already ended."""
    workflow = event.metadata.workflow if event.metadata is not None else {}
    if event.run_name:
        row["name"] = event.run_name
    if event.metadata is not None and event.metadata.params:
        row["params"] = event.metadata.params
    if event.event is WeblogEventType.STARTED:
        row["started_at"] = _time(workflow.get("start")) or event.utc_time
        return
    if event.event is WeblogEventType.ERROR:
        if row["status"] not in FINAL:
            row.update(status="errored", finished_at=event.utc_time)
        return
    success = workflow.get("success")
    failed = success is False or (success is None and bool(workflow.get("errorMessage")))
    row.update(status="errored" if failed else "completed",
               finished_at=_time(workflow.get("complete")) or event.utc_time)
    message = workflow.get("errorMessage")
    if failed and isinstance(message, str):
        row["description"] = message


def _record_tasks(events: Sequence[WeblogEvent], known: Known
                  ) -> set[tuple[str, str | None]]:
    """Upsert the batch's task Runs and their metrics (one bundle per task, merged into what
    earlier events or a trace recorded); return (run id, task name) of retried tasks."""
    from flowlineage.adapters import recorded_runs, set_run_features, upsert_runs

    latest: dict[str, tuple[str, TraceRow]] = {}
    for event in events:
        row = event.trace
        if row is None:
            continue
        reference = task_reference(event.run_id, row.hash, row.task_id)
        seen = latest.get(reference)
        if seen is None or RANK[RUN_STATUS[row.status]] >= RANK[RUN_STATUS[seen[1].status]]:
            latest[reference] = (event.run_id, row)
    if not latest:
        return set()
    recorded = recorded_runs(TASK_REFERENCE, sorted(latest))
    rows, features = [], {}
    for reference, (run_id, row) in latest.items():
        status = RUN_STATUS[row.status]
        before = recorded.get(reference)
        if before is not None and _rank(before[1]) > RANK[status]:
            continue  # never backwards: a late event about an earlier stage
        workflow = known.workflow(run_id)
        assert workflow is not None
        tf = known.transform(process_key(workflow[1], row.process), "process")
        rows.append(task_run_row(row, run_id, workflow[0], tf))
        features[reference] = task_features(row)  # merged into the recorded bundle
    ids = upsert_runs(rows)
    set_run_features({ids[(TASK_REFERENCE, ref)]: values for ref, values in features.items()},
                     apart=())
    return {(latest[ref][0], latest[ref][1].name) for ref, values in features.items()
            if "attempt" in values}


def _rank(code: int) -> int:
    from flowlineage.adapters import RunStatus

    return RANK[RunStatus.name_of(code)]


def link_restarts(workflow_run_id: int, name: str | None = None) -> None:
    """Set ``restart_of`` on the later attempts of retried tasks of a workflow Run.

    Attempts of a task share its name; the first attempt is the attempt-1 run of that name
    with the highest ``task_id`` below the later attempt's. ``name`` limits the work to one
    task name; without it every retried task of the run is linked (done when the run
    completes, for attempts whose events arrived out of order).
    """
    import flowlineage as fl
    from flowlineage.adapters import run_ids_with_feature, set_run_features

    tasks = fl.Run.filter(initiated_by_run_id=workflow_run_id, reference_type=TASK_REFERENCE)
    if name is not None:
        names = {name}
    else:
        retried = run_ids_with_feature("attempt")
        names = {r.name for r in tasks.filter(fl.Run.id.in_(retried)).all() if r.name}
    updates: dict[int, dict[str, Any]] = {}
    for task_name in sorted(names):
        chain = [(r, r.features.get_values()) for r in tasks.filter(name=task_name).all()]
        heads = sorted(((v.get("task_id", -1), r.uid) for r, v in chain if "attempt" not in v))
        for run, values in chain:
            if "attempt" not in values:
                continue
            earlier = [uid for task_id, uid in heads if task_id < values.get("task_id", -1)]
            if earlier and values.get("restart_of") != earlier[-1]:
                updates[run.id] = {"restart_of": earlier[-1]}
    set_run_features(updates)

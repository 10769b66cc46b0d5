"""``flowlineage prefect watch``: flow and task runs read from the Prefect API, recorded as
flowlineage Runs without any decorator (this module imports prefect).

Each pass reads the flow runs expected to start after a cursor (plus those still open in
an earlier pass) and the task runs of those flow runs, and records them as the adapter
does: same reference types, same status mapping, ``initiated_by_run`` from the parent task
run or flow run, result edges from ``task_inputs``. A run recorded before (by the
decorator, or an earlier pass) is updated only where it changed: its status, its end, an
``initiated_by_run`` it lacked; its transform, name and parameters are kept.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from flowlineage import Run
from flowlineage.adapters import (
    end_run,
    ensure_connected,
    get_or_create_transform,
    hook,
    link_run_results,
    notify,
    set_run_features,
    upsert_runs,
)
from flowlineage.errors import ConfigurationError
from prefect.client.orchestration import SyncPrefectClient, get_client
from prefect.client.schemas.filters import (
    FlowFilter,
    FlowFilterId,
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterId,
    Operator,
    TaskRunFilter,
    TaskRunFilterFlowRunId,
)
from prefect.client.schemas.objects import FlowRun, FlowRunResult, State, TaskRun, TaskRunResult
from prefect.client.schemas.sorting import FlowRunSort, TaskRunSort

from ._adapter import NOT_DATA, _status, _utc
from ._values import json_safe
from .hooks import FLOW_RUN, TASK_RUN

PAGE = 200
"""Runs per API request (Prefect's default upper limit)."""
CHUNK = 100
"""Flow run ids per task run query, references per database lookup."""
OVERLAP = timedelta(minutes=1)
"""How far back from a pass's start the next pass reads again (clock skew, late writes)."""
Ref = tuple[str, str]  # (reference_type, reference)
T = TypeVar("T")


@dataclass
class PassSummary:
    """What one pass saw and changed."""

    flow_runs: int = 0
    task_runs: int = 0
    new: int = 0
    updated: int = 0
    result_edges: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


@dataclass
class _Record:
    """One Prefect run as a flowlineage Run."""

    ref: Ref
    kind: str  # "flow" or "task"
    key: str
    version: str | None
    name: str | None
    params: Any
    started_at: datetime | None
    finished_at: datetime | None
    status: str
    final: bool
    features: dict[str, Any]
    parent: Ref | None
    results: list[Ref] = field(default_factory=list)


def run_status(state: State[Any] | None, run_count: int) -> tuple[str, bool]:
    """The Run status of a Prefect state (the adapter's mapping for final states), and
    whether the state is final."""
    if state is None:
        return "scheduled", False
    if state.is_final():
        return _status(state), True
    if state.is_running() or state.is_cancelling():
        return ("restarted" if run_count > 1 else "started"), False
    if state.name == "AwaitingRetry" or (state.is_scheduled() and run_count > 0):
        return "restarted", False
    return "scheduled", False  # scheduled, pending, paused


def _chunks(items: list[T], size: int = CHUNK) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class Watcher:
    """Polls one Prefect API and records what it finds; ``run_pass()`` does one pass."""

    def __init__(self, client: SyncPrefectClient, since: datetime | None = None) -> None:
        self.client = client
        self.cursor = since
        self.open_flow_runs: set[UUID] = set()
        self._flow_names: dict[UUID, str] = {}
        self._transforms: dict[tuple[str, str, str | None], int] = {}

    @property
    def api_url(self) -> str:
        return str(self.client.api_url)

    def check(self) -> None:
        """Raise ``ConfigurationError`` naming the API URL when it does not answer."""
        error = self.client.api_healthcheck()
        if error is not None:
            raise ConfigurationError(
                f"cannot reach the Prefect API at {self.api_url}: {error or type(error).__name__}"
                " (set PREFECT_API_URL, or start a server with 'prefect server start')")

    # ------------------------------------------------------------ reading the API

    def _pages(self, read: Callable[[int], list[T]]) -> list[T]:
        out: list[T] = []
        while True:
            page = read(len(out))
            out += page
            if len(page) < PAGE:
                return out

    def read_flow_runs(self) -> list[FlowRun]:
        criteria: dict[str, Any] = {}
        if self.cursor is not None:
            criteria["expected_start_time"] = FlowRunFilterExpectedStartTime.model_validate(
                {"after_": self.cursor})
            if self.open_flow_runs:
                criteria["id"] = FlowRunFilterId(any_=sorted(self.open_flow_runs))
        flt = FlowRunFilter.model_validate({"operator": Operator.or_, **criteria}) \
            if criteria else None

        def read(offset: int) -> list[FlowRun]:
            return self.client.read_flow_runs(
                flow_run_filter=flt, sort=FlowRunSort.EXPECTED_START_TIME_ASC, limit=PAGE,
                offset=offset)

        return self._pages(read)

    def read_task_runs(self, flow_run_ids: list[UUID]) -> list[TaskRun]:
        out: list[TaskRun] = []
        for chunk in _chunks(flow_run_ids):
            flt = TaskRunFilter(flow_run_id=TaskRunFilterFlowRunId(any_=chunk))

            def read(offset: int, flt: TaskRunFilter = flt) -> list[TaskRun]:
                return self.client.read_task_runs(
                    task_run_filter=flt, sort=TaskRunSort.EXPECTED_START_TIME_ASC, limit=PAGE,
                    offset=offset)

            out += self._pages(read)
        return out

    def flow_names(self, flow_ids: Iterable[UUID]) -> dict[UUID, str]:
        missing = sorted(set(flow_ids) - set(self._flow_names))
        for chunk in _chunks(missing):
            for f in self.client.read_flows(flow_filter=FlowFilter(id=FlowFilterId(any_=chunk)),
                                            limit=len(chunk)):
                self._flow_names[f.id] = f.name
        return self._flow_names

    # ------------------------------------------------------------ one pass

    def run_pass(self) -> PassSummary:
        """Read the API once and record what changed."""
        started = datetime.now(UTC)
        flow_runs = self.read_flow_runs()
        task_runs = self.read_task_runs([f.id for f in flow_runs])
        records = self.records(flow_runs, task_runs)
        summary = self.write(records)
        summary.flow_runs = len(flow_runs)
        summary.task_runs = sum(1 for r in records if r.kind == "task")
        self.open_flow_runs = {f.id for f in flow_runs
                               if not (f.state is not None and f.state.is_final())}
        self.cursor = started - OVERLAP
        return summary

    def records(self, flow_runs: list[FlowRun], task_runs: list[TaskRun]) -> list[_Record]:
        """The Runs of these Prefect runs (a subflow's stand-in task run is not one: its
        subflow run is)."""
        subflow_of = {f.parent_task_run_id: f.id for f in flow_runs
                      if f.parent_task_run_id is not None}
        tasks = {t.id: t for t in task_runs}
        for tid in subflow_of:  # a stand-in task run of a flow run not read in this pass
            if tid not in tasks:
                tasks[tid] = self.client.read_task_run(tid)

        def ref_of_task(tid: UUID) -> Ref:
            sub = subflow_of.get(tid)
            return (FLOW_RUN, str(sub)) if sub is not None else (TASK_RUN, str(tid))

        def parent_of(t: TaskRun) -> Ref | None:
            for p in t.task_inputs.get("__parents__", []):
                if isinstance(p, TaskRunResult):
                    return ref_of_task(p.id)
            return (FLOW_RUN, str(t.flow_run_id)) if t.flow_run_id is not None else None

        names = self.flow_names({f.flow_id for f in flow_runs})
        out: list[_Record] = []
        for f in flow_runs:
            status, final = run_status(f.state, f.run_count)
            stand_in = tasks.get(f.parent_task_run_id) if f.parent_task_run_id else None
            name = names.get(f.flow_id, str(f.flow_id))
            out.append(_Record(
                ref=(FLOW_RUN, str(f.id)), kind="flow", key=f"prefect:{name}",
                version=f.flow_version, name=f.name, params=json_safe(dict(f.parameters)),
                started_at=_utc(f.start_time), finished_at=_utc(f.end_time), status=status,
                final=final, features=_features(f.state, f.run_count, final),
                parent=None if stand_in is None else parent_of(stand_in)))
        for t in task_runs:
            if t.id in subflow_of:
                continue
            status, final = run_status(t.state, t.run_count)
            qualname, _, code_hash = t.task_key.rpartition("-")
            results = [ref_of_task(i.id) if isinstance(i, TaskRunResult) else (FLOW_RUN, str(i.id))
                       for name, inputs in t.task_inputs.items() if name not in NOT_DATA
                       for i in inputs if isinstance(i, TaskRunResult | FlowRunResult)]
            out.append(_Record(
                ref=(TASK_RUN, str(t.id)), kind="task", key=f"prefect:{qualname or t.task_key}",
                version=code_hash or None, name=t.name, params=None,
                started_at=_utc(t.start_time), finished_at=_utc(t.end_time), status=status,
                final=final, features=_features(t.state, t.run_count, final),
                parent=parent_of(t), results=list(dict.fromkeys(results))))
        return out

    # ------------------------------------------------------------ writing

    def transform_id(self, r: _Record) -> int:
        tkey = (r.kind, r.key, r.version)
        found = self._transforms.get(tkey)
        if found is None:
            found = self._transforms[tkey] = get_or_create_transform(
                key=r.key, type=r.kind, version=r.version,
                description="seen through the Prefect API (flowlineage prefect watch)").id
        return found

    def write(self, records: list[_Record]) -> PassSummary:
        """Insert new Runs, update changed ones, link parents and results."""
        summary = PassSummary()
        if not records:
            return summary
        inst = ensure_connected()
        wanted = {r.ref for r in records}
        wanted |= {r.parent for r in records if r.parent is not None}
        wanted |= {ref for r in records for ref in r.results}
        known = _lookup(wanted)
        new = [r for r in records if r.ref not in known]
        changed: set[Ref] = set()
        with inst.write():
            rows = [{
                "reference_type": r.ref[0], "reference": r.ref[1],
                "transform_id": self.transform_id(r), "name": r.name, "params": r.params,
                "started_at": r.started_at, "status": "started" if r.final else r.status,
            } for r in new]
            if rows:
                ids = upsert_runs(rows)
                known.update(_lookup(set(ids)))
            updates = []
            for r in records:
                run = known[r.ref]
                row: dict[str, Any] = {}
                if run.initiated_by_run_id is None and r.parent in known:
                    row["initiated_by_run_id"] = known[r.parent].id
                if not r.final and run._status_code < 0 and run.status != r.status:
                    row["status"] = r.status
                if r.started_at is not None and run.started_at is None:
                    row["started_at"] = r.started_at
                if row:
                    updates.append({"reference_type": r.ref[0], "reference": r.ref[1],
                                    "transform_id": run.transform_id, **row})
                    changed.add(r.ref)
            if updates:
                upsert_runs(updates)
                known.update(_lookup({(u["reference_type"], u["reference"]) for u in updates}))
            ending = [r for r in records if r.final and known[r.ref]._status_code < 0]
            set_run_features({known[r.ref].id: r.features for r in ending if r.features})
            for r in ending:
                end_run(known[r.ref], r.status, finished_at=r.finished_at)
                changed.add(r.ref)
            edges = [(known[r.ref].id, known[i].id) for r in records for i in r.results
                     if i in known]
            link_run_results(edges)
        new_refs = {r.ref for r in new}
        for r in new:
            notify(hook().flowlineage_run_started, run=known[r.ref])
        summary.new = len(new_refs)
        summary.updated = len(changed - new_refs)
        summary.result_edges = len(edges)
        return summary


def _features(state: State[Any] | None, run_count: int, final: bool) -> dict[str, Any]:
    """``attempts`` of a retried run; ``error_type`` / ``error`` of a failed one (Prefect's
    state name and message: the API has no traceback)."""
    features: dict[str, Any] = {}
    if run_count > 1:
        features["attempts"] = run_count
    if final and state is not None and not state.is_completed():
        features["error_type"] = state.name or str(state.type.value).title()
        features["error"] = state.message or ""
    return features


def _lookup(refs: set[Ref]) -> dict[Ref, Run]:
    """The recorded Runs of these references."""
    out: dict[Ref, Run] = {}
    for rtype in (FLOW_RUN, TASK_RUN):
        wanted = sorted(ref for t, ref in refs if t == rtype)
        for chunk in _chunks(wanted, 500):
            for run in Run.filter(reference_type=rtype, reference__in=chunk):
                out[(rtype, run.reference or "")] = run
    return out


def watch(since: datetime | None, interval: float, once: bool,
          report: Callable[[str, PassSummary], None]) -> None:
    """Poll the Prefect API the environment names until interrupted (or once)."""
    ensure_connected()
    with get_client(sync_client=True) as client:
        watcher = Watcher(client, since)
        watcher.check()
        while True:
            try:
                summary = watcher.run_pass()
            except Exception as e:
                if type(e).__module__.startswith("httpx") or "Connect" in type(e).__name__:
                    raise ConfigurationError(
                        f"the Prefect API at {watcher.api_url} failed: {e}") from e
                raise
            report(watcher.api_url, summary)
            if once:
                return
            time.sleep(interval)

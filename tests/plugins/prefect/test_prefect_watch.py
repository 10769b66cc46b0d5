"""``flowlineage prefect watch``: plain Prefect runs (no decorator, no ``enable()``) read
from the session's Prefect server and recorded as Runs."""

from __future__ import annotations

import json
from typing import Any

import flowlineage as fl
import prefect
from flowlineage.cli.app import build_app
from flowlineage.db import tables
from flowlineage.db.engine import Instance
from flowlineage_prefect import FLOW_RUN, TASK_RUN, flow, task
from sqlalchemy import func, select
from typer.testing import CliRunner, Result


@prefect.task
def make(n: int) -> int:
    return n + 1


@prefect.task
def double(x: int) -> int:
    return 2 * x


@prefect.flow
def inner(n: int) -> int:
    return double(make.submit(n))  # a future: Prefect records it in task_inputs


@prefect.flow
def outer(n: int) -> int:
    return inner(n)


@prefect.task
def boom() -> None:
    raise ValueError("no")


@prefect.flow
def failing() -> None:
    boom()


def cli(*args: str) -> Result:
    return CliRunner().invoke(build_app(), list(args), prog_name="flowlineage")


def watch_once(*extra: str) -> dict[str, Any]:
    result = cli("prefect", "watch", "--once", "--json", *extra)
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


def _counts(inst: Instance) -> tuple[int, int]:
    with inst.read() as s:
        runs = s.execute(select(func.count()).select_from(tables.run)).scalar_one()
        edges = s.execute(select(func.count()).select_from(tables.run_input_run)).scalar_one()
    return runs, edges


def _edges(inst: Instance) -> set[tuple[int, int]]:
    with inst.read() as s:
        rows = s.execute(select(tables.run_input_run.c.run_id,
                                tables.run_input_run.c.input_run_id)).all()
    return {(a, b) for a, b in rows}


def test_watch_records_plain_flow_runs(instance: Instance) -> None:
    state = outer(3, return_state=True)
    assert state.is_completed() and state.result() == 8
    outer_id = str(state.state_details.flow_run_id)

    summary = watch_once()
    assert summary["new"] >= 4 and summary["result_edges"] >= 1

    top = fl.Run.get(reference=outer_id, reference_type=FLOW_RUN)
    assert top.status == "completed" and top.initiated_by_run is None
    assert top.params == {"n": 3} and top.finished_at is not None
    assert top.transform.key == "prefect:outer" and top.transform.type == "flow"
    (sub,) = top.initiated_runs
    assert sub.reference_type == FLOW_RUN and sub.status == "completed"
    assert sub.transform.key == "prefect:inner"
    tasks = {r.name.rsplit("-", 1)[0]: r for r in sub.initiated_runs}
    assert set(tasks) == {"make", "double"}
    for r in tasks.values():
        assert r.reference_type == TASK_RUN and r.status == "completed"
        assert r.initiated_by_run is not None and r.initiated_by_run.id == sub.id
        assert r.initiated_by_run.initiated_by_run is not None
        assert r.initiated_by_run.initiated_by_run.id == top.id
    assert tasks["double"].transform.key == "prefect:double"
    assert tasks["double"].transform.type == "task"
    assert (tasks["double"].id, tasks["make"].id) in _edges(instance)

    before = _counts(instance)
    again = watch_once()
    assert again["new"] == 0 and again["updated"] == 0
    assert _counts(instance) == before


def test_watch_maps_failures(instance: Instance) -> None:
    state = failing(return_state=True)
    assert state.is_failed()
    watch_once("--since", "10m")
    run = fl.Run.get(reference=str(state.state_details.flow_run_id), reference_type=FLOW_RUN)
    assert run.status == "errored"
    assert run.features.get_values()["error_type"] == "Failed"
    (task_run,) = run.initiated_runs
    assert task_run.status == "errored"


def test_watch_updates_decorated_runs(instance: Instance) -> None:
    @task
    def add(x: int) -> int:
        return x + 1

    @flow
    def tracked_flow(x: int) -> int:
        return add(x)

    state = tracked_flow(1, return_state=True)
    ref = str(state.state_details.flow_run_id)
    run = fl.Run.get(reference=ref, reference_type=FLOW_RUN)
    key = run.transform.key
    watch_once("--since", "1h")  # also sees this session's earlier, plain runs
    assert fl.Run.filter(reference=ref, reference_type=FLOW_RUN).count() == 1
    after = fl.Run.get(reference=ref, reference_type=FLOW_RUN)
    assert after.id == run.id and after.transform.key == key  # the decorator's transform
    assert after.status == "completed"
    for task_run in after.initiated_runs:
        assert fl.Run.filter(reference=task_run.reference).count() == 1


def test_watch_unreachable_api(instance: Instance) -> None:
    from prefect.settings import PREFECT_API_URL, temporary_settings

    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        result = cli("prefect", "watch", "--once")
    assert result.exit_code == 2
    assert "http://127.0.0.1:9/api" in result.output


def test_watch_is_listed(instance: Instance) -> None:
    result = cli("prefect", "--help")
    assert result.exit_code == 0 and "watch" in result.stdout
    assert "--interval" in cli("prefect", "watch", "--help").stdout


def test_later_passes_read_new_runs_only(instance: Instance) -> None:
    from datetime import UTC, datetime, timedelta

    from flowlineage_prefect._watch import Watcher
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        watcher = Watcher(client, since=datetime.now(UTC) - timedelta(hours=1))
        watcher.run_pass()
        assert watcher.cursor is not None and not watcher.open_flow_runs
        state = failing(return_state=True)
        second = watcher.run_pass()
        assert second.new == 2 and second.flow_runs >= 1
        assert watcher.run_pass().new == 0
    run = fl.Run.get(reference=str(state.state_details.flow_run_id), reference_type=FLOW_RUN)
    assert run.status == "errored" and run.initiated_runs.count() == 1

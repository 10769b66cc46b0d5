"""The Prefect adapter against real Prefect runs: run mapping, nesting, states, caching."""

from __future__ import annotations

import asyncio
import getpass
import inspect
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import flowlineage as fl
import prefect
import pytest
from flowlineage.db.engine import Instance
from flowlineage.errors import ValidationError
from flowlineage.storage.hashing import hash_bytes, hash_file
from flowlineage_prefect import FLOW_RUN, TASK_RUN, flow, task, tracked
from flowlineage_prefect._adapter import _MARK
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import FlowRun, State
from prefect.runtime import flow_run as runtime_flow_run
from prefect.runtime import task_run as runtime_task_run
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.asyncutils import run_coro_as_sync

from .prefect_flows import Stop, cached_flow, crashing_flow


def _flow_run(state: State[Any]) -> FlowRun:
    """The flow run (as the Prefect API has it) that ended in ``state``."""
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    with get_client(sync_client=True) as client:
        return client.read_flow_run(flow_run_id)


def _run_of(state: State[Any]) -> fl.Run:
    return fl.Run.get(reference=str(state.state_details.flow_run_id), reference_type=FLOW_RUN)


def _task_run(task_run_id: str) -> fl.Run:
    return fl.Run.get(reference=task_run_id, reference_type=TASK_RUN)


# ---------------------------------------------------------------- flow run → Run


@flow(name="mapping-flow", version="1.2", flow_run_name="map-{x}")
def mapping_flow(x: int, data: Path, opts: dict[Any, Any], when: datetime) -> int:
    """Double x."""
    return x * 2


def test_flow_run_maps_to_run(any_instance: Instance, tmp_path: Path) -> None:
    data = tmp_path / "data.csv"
    data.write_text("a,b\n1,2\n")
    when = datetime(2024, 5, 17, 12, 30)
    state = mapping_flow(3, data, {"a": [1, (2, 3)], "b": None, 4: float("nan")}, when,
                         return_state=True)
    assert state.result() == 6
    api = _flow_run(state)
    run = _run_of(state)

    assert run.reference == str(api.id) and run.reference_type == "prefect_flow_run"
    assert run.name == api.name == "map-3"
    assert run.params == {
        "x": 3, "data": str(data), "opts": {"a": [1, [2, 3]], "b": None, "4": "nan"},
        "when": repr(when),
    }
    assert run.status == "completed"
    assert run.started_at == api.start_time
    assert run.finished_at == api.end_time
    assert run.started_at is not None and run.finished_at is not None
    assert run.started_at < run.finished_at
    assert run.initiated_by_run is None
    assert run.created_by == getpass.getuser()

    tf = run.transform
    source = inspect.getsource(mapping_flow.fn)
    assert source.startswith("@flow(") and "def mapping_flow(" in source
    assert (tf.key, tf.type, tf.version) == (f"prefect:{__name__}.mapping_flow", "flow", "1.2")
    assert tf.source_code == source and tf.hash == hash_bytes(source.encode())
    assert tf.description == "Double x."

    (inp,) = run.input_artifacts.all()
    assert inp.hash == hash_file(data)[0] and inp.run_id is None

    again = mapping_flow(4, data, {}, when, return_state=True)
    second = _run_of(again)
    assert second.id != run.id and second.transform_id == tf.id and second.name == "map-4"
    assert [a.id for a in second.input_artifacts] == [inp.id]


def test_recording_a_prefect_run_again_updates_its_run(instance: Instance) -> None:
    state = simple_flow(1, return_state=True)
    run = _run_of(state)
    tracker = getattr(simple_flow.fn, _MARK)
    again = tracker.start_run(simple_flow, _flow_run(state), {"x": 2}, "restarted")
    assert (again.id, again.uid, again.status, again.params) == (run.id, run.uid, "restarted",
                                                                 {"x": 2})
    assert fl.Run.filter(reference_type=FLOW_RUN).count() == 1


# ---------------------------------------------------------------- nesting


@task
def leaf(x: int) -> str:
    return str(runtime_task_run.id)


@flow
def middle(x: int) -> tuple[str, str]:
    return str(runtime_flow_run.id), leaf(x)


@flow
def top(x: int) -> tuple[str, str]:
    return middle(x)


def test_task_subflow_flow_chain(instance: Instance) -> None:
    state = top(1, return_state=True)
    middle_id, leaf_id = state.result()
    top_run = _run_of(state)
    middle_run = fl.Run.get(reference=middle_id, reference_type=FLOW_RUN)
    leaf_run = _task_run(leaf_id)

    assert leaf_run.initiated_by_run_id == middle_run.id
    assert middle_run.initiated_by_run_id == top_run.id
    assert top_run.initiated_by_run_id is None
    assert [r.id for r in top_run.initiated_runs] == [middle_run.id]
    assert leaf_run.transform.type == "task"
    assert leaf_run.transform.key == f"prefect:{__name__}.leaf"
    assert leaf_run.params == {"x": 1}
    assert leaf_run.name is not None and leaf_run.name.startswith("leaf-")
    assert {r.status for r in (top_run, middle_run, leaf_run)} == {"completed"}
    assert middle_run.started_at is not None and leaf_run.started_at is not None
    assert top_run.started_at <= middle_run.started_at <= leaf_run.started_at  # type: ignore[operator]


# ---------------------------------------------------------------- states


_seen: dict[str, list[str]] = {}


@task(retries=2)
def always_fails(token: str) -> None:
    run = fl.get_current_run()
    assert run is not None
    _seen.setdefault(token, []).append(fl.Run.get(run.id).status)
    raise RuntimeError("boom")


@flow
def failing(token: str) -> None:
    always_fails(token)


def test_failing_task_with_retries(instance: Instance) -> None:
    token = uuid.uuid4().hex
    state = failing(token, return_state=True)
    assert state.is_failed()
    assert _seen[token] == ["started", "restarted", "restarted"]
    flow_run = _run_of(state)
    (task_run,) = flow_run.initiated_runs.all()
    assert task_run.status == "errored" and flow_run.status == "errored"
    assert task_run.finished_at is not None and flow_run.finished_at is not None
    assert task_run.finished_at <= flow_run.finished_at
    assert fl.Run.filter(status="errored").count() == 2


_attempts: dict[str, int] = {}


@flow(retries=1)
def flaky_flow(token: str) -> str:
    _attempts[token] = _attempts.get(token, 0) + 1
    if _attempts[token] == 1:
        raise RuntimeError("first attempt fails")
    run = fl.get_current_run()
    assert run is not None
    return fl.Run.get(run.id).status


def test_retried_flow_is_restarted_then_completed(instance: Instance) -> None:
    state = flaky_flow(uuid.uuid4().hex, return_state=True)
    assert state.result() == "restarted"
    run = _run_of(state)
    assert run.status == "completed"
    assert fl.Run.filter(reference_type=FLOW_RUN).count() == 1


def test_crash_is_aborted(instance: Instance) -> None:
    with pytest.raises(Stop):
        crashing_flow()
    (flow_run,) = fl.Run.filter(reference_type=FLOW_RUN).all()
    (task_run,) = fl.Run.filter(reference_type=TASK_RUN).all()
    assert flow_run.status == task_run.status == "aborted"
    assert task_run.initiated_by_run_id == flow_run.id
    assert flow_run.finished_at is not None and task_run.finished_at is not None


def test_invalid_parameters_still_recorded(instance: Instance) -> None:
    bad: Any = "not a number"
    state = mapping_flow(bad, Path("x"), {}, datetime(2024, 1, 1), return_state=True)
    assert state.is_failed()
    run = _run_of(state)
    assert run.status == "errored"
    assert run.params is not None and run.params["x"] == "not a number"
    assert run.transform.key == f"prefect:{__name__}.mapping_flow"


# ---------------------------------------------------------------- caching


def test_cached_task_links_recreated_outputs(instance: Instance, tmp_path: Path) -> None:
    token = uuid.uuid4().hex
    first_id, first_state = cached_flow(token, tmp_path)
    second_state = cached_flow(token, tmp_path, return_state=True)
    second_id, second_name = second_state.result()
    assert (first_state, second_name) == ("Completed", "Cached")

    first, second = _task_run(first_id), _task_run(second_id)
    (out,) = first.output_artifacts.all()
    assert out.hash == hash_file(tmp_path / "cached.txt")[0]
    assert second.status == "completed" and second.finished_at is not None
    assert second.output_artifacts.count() == 0
    assert [a.id for a in second.recreated_artifacts] == [out.id]
    assert [r.id for r in out.recreating_runs] == [second.id]
    assert second.initiated_by_run_id == _run_of(second_state).id
    assert second.params == {"token": token, "out_dir": str(tmp_path)}


# ---------------------------------------------------------------- async


@task
async def async_save(i: int, out_dir: Path) -> str:
    await asyncio.sleep(0.01)
    path = out_dir / f"async-{i}.txt"
    path.write_text(f"async {i}")
    fl.Artifact(path, key=f"async/{i}.txt").save()
    return str(runtime_task_run.id)


@flow
async def async_flow(n: int, out_dir: Path) -> list[str]:
    return list(await asyncio.gather(*(async_save(i, out_dir) for i in range(n))))


# Prefect 3.8's async flow engine reads the server's default result storage with a sync
# client it never closes (prefect/results.py, _read_server_default_result_storage_block_id).
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <socket.socket:pytest.PytestUnraisableExceptionWarning"
)
def test_async_flow(instance: Instance, tmp_path: Path) -> None:
    async def main() -> State[list[str]]:
        return await async_flow(3, tmp_path, return_state=True)

    state: State[list[str]] = run_coro_as_sync(main())
    task_ids = state.result()
    flow_run = _run_of(state)
    assert flow_run.status == "completed" and flow_run.transform.type == "flow"
    for i, task_id in enumerate(task_ids):
        run = _task_run(task_id)
        assert run.initiated_by_run_id == flow_run.id and run.status == "completed"
        assert [a.key for a in run.output_artifacts] == [f"async/{i}.txt"]


# ---------------------------------------------------------------- concurrency


@task
def save_one(i: int, out_dir: Path) -> tuple[str, int]:
    path = out_dir / f"part-{i}.txt"
    path.write_text(f"part {i}")
    time.sleep(0.05)  # overlap with the other task runs
    art = fl.Artifact(path, key=f"parts/{i}.txt").save()
    assert art.run_id is not None
    return str(runtime_task_run.id), art.run_id


@flow(task_runner=ThreadPoolTaskRunner(max_workers=8))
def fan_out(n: int, out_dir: Path) -> list[tuple[str, int]]:
    futures = [save_one.submit(i, out_dir) for i in range(n)]
    return [f.result() for f in futures]


def test_concurrent_tasks_own_their_artifacts(instance: Instance, tmp_path: Path) -> None:
    state = fan_out(20, tmp_path, return_state=True)
    results = state.result()
    flow_run = _run_of(state)
    assert len({task_id for task_id, _ in results}) == 20
    for i, (task_id, run_id) in enumerate(results):
        run = _task_run(task_id)
        assert run.id == run_id
        assert run.params == {"i": i, "out_dir": str(tmp_path)}
        assert run.initiated_by_run_id == flow_run.id and run.status == "completed"
        (art,) = run.output_artifacts.all()
        assert art.key == f"parts/{i}.txt"
        assert art.hash == hash_file(tmp_path / f"part-{i}.txt")[0]
    assert fl.Artifact.filter(run_id=flow_run.id).count() == 0


# ---------------------------------------------------------------- paths in and out


@task
def transform_file(source: Path, out_dir: Path) -> dict[str, Any]:
    upper = out_dir / "upper.txt"
    upper.write_text(source.read_text().upper())
    lines = out_dir / "lines.txt"
    lines.write_text(str(len(source.read_text().splitlines())))
    return {"files": [upper, lines], "source": source, "n": 2}


@flow
def paths_flow(source: Path, out_dir: Path) -> Path:
    files: list[Path] = transform_file(source, out_dir)["files"]
    return files[0]


def test_path_parameters_and_return_values(instance: Instance, tmp_path: Path) -> None:
    source = tmp_path / "in.txt"
    source.write_text("a\nb\n")
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    state = paths_flow(source, out_dir, return_state=True)
    assert state.result() == out_dir / "upper.txt"
    flow_run = _run_of(state)
    (task_run,) = flow_run.initiated_runs.all()

    (inp,) = task_run.input_artifacts.all()  # the folder parameter is not an input
    assert inp.hash == hash_file(source)[0]
    outputs = {a.hash for a in task_run.output_artifacts}
    assert outputs == {hash_file(out_dir / "upper.txt")[0], hash_file(out_dir / "lines.txt")[0]}
    assert task_run.recreated_artifacts.count() == 0  # the returned input is not an output
    # the flow returns what its task wrote: neither an output nor recreated by the flow
    assert flow_run.output_artifacts.count() == 0 and flow_run.recreated_artifacts.count() == 0
    assert [a.id for a in flow_run.input_artifacts] == [inp.id]


@task
def returns_artifact(out_dir: Path) -> fl.Artifact:
    path = out_dir / "made.txt"
    path.write_text("made")
    return fl.Artifact(path, key="made.txt")


@task
def reads_artifact(art: fl.Artifact) -> str:
    return str(art.key)


@flow
def artifact_flow(out_dir: Path) -> str:
    return reads_artifact(returns_artifact(out_dir))


def test_artifact_parameters_and_return_values(instance: Instance, tmp_path: Path) -> None:
    state = artifact_flow(tmp_path, return_state=True)
    assert state.result() == "made.txt"
    art = fl.Artifact.get(key="made.txt")
    assert art.run is not None and art.run.transform.key.endswith(".returns_artifact")
    (reader,) = art.input_of_runs.all()
    assert reader.transform.key.endswith(".reads_artifact")
    assert reader.initiated_by_run_id == art.run.initiated_by_run_id == _run_of(state).id


# ---------------------------------------------------------------- the decorators


@prefect.task(name="plain-task", retries=1)
def plain(x: int) -> int:
    return x * 3


def test_tracked_copies_a_prefect_object(instance: Instance) -> None:
    wrapped = tracked(plain)
    assert wrapped is not plain and tracked(wrapped) is wrapped
    assert (wrapped.name, wrapped.retries) == ("plain-task", 1)
    assert len(wrapped.on_completion_hooks) == len(plain.on_completion_hooks) + 1
    assert inspect.signature(wrapped.fn) == inspect.signature(plain.fn)
    assert wrapped.fn(2) == 6  # outside a Prefect run: no Run
    assert fl.Run.filter().count() == 0
    renamed = wrapped.with_options(name="renamed")  # Prefect's copies stay tracked
    assert tracked(renamed) is renamed

    @prefect.flow
    def uses_plain() -> int:
        return wrapped(2) + plain(2) + renamed(1)

    assert uses_plain() == 15  # the untracked flow and original task stay untracked
    runs = fl.Run.filter().order_by("id").all()
    assert [r.name.rsplit("-", 1)[0] for r in runs if r.name] == ["plain-task", "renamed"]
    assert {(r.reference_type, r.initiated_by_run_id, r.status) for r in runs} == {
        (TASK_RUN, None, "completed")}
    assert runs[0].transform_id == runs[1].transform_id


def test_tracked_rejects_what_it_cannot_track() -> None:
    with pytest.raises(ValidationError, match="above @flow or @task"):
        tracked(len)  # type: ignore[type-var]

    def numbers() -> Any:
        yield 1

    with pytest.raises(ValidationError, match="generator"):
        tracked(prefect.task(numbers))


def test_connects_with_environment_defaults(fl_home: Path) -> None:
    try:
        assert simple_flow(1) == 2
        (run,) = fl.Run.filter(reference_type=FLOW_RUN).all()
        assert fl.get_instance().settings.home == fl_home.resolve()
        assert run.status == "completed"
    finally:
        fl.disconnect()


@flow
def simple_flow(x: int) -> int:
    return x + 1

"""The Prefect adapter as Prefect users write flows: str paths, result edges, errors,
retries and caching, assets, and tracking plain ``@prefect.flow`` / ``@prefect.task``."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import flowlineage as fl
import prefect
import pytest
from flowlineage.db import tables
from flowlineage.db.engine import Instance
from flowlineage.storage.hashing import hash_file
from flowlineage_prefect import FLOW_RUN, TASK_RUN, disable, enable, flow, task
from prefect.assets import materialize
from prefect.client.schemas.objects import State
from prefect.runtime import task_run as runtime_task_run
from prefect.settings import get_current_settings
from sqlalchemy import select


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The flow's working directory: output keys are relative to it."""
    path = tmp_path / "work"
    path.mkdir()
    monkeypatch.chdir(path)
    return path


def _run_of(state: State[Any]) -> fl.Run:
    return fl.Run.get(reference=str(state.state_details.flow_run_id), reference_type=FLOW_RUN)


def _task_run(task_run_id: str) -> fl.Run:
    return fl.Run.get(reference=task_run_id, reference_type=TASK_RUN)


def _result_edges(inst: Instance) -> set[tuple[int, int]]:
    t = tables.run_input_run
    with inst.connection() as conn:
        return {(a, b) for a, b in conn.execute(select(t.c.run_id, t.c.input_run_id))}


# ---------------------------------------------------------------- flow → subflow → tasks


@task
def write_part(i: int, out_dir: str) -> str:
    path = os.path.join(out_dir, f"part-{i}.txt")
    Path(path).write_text(f"part {i}\n")
    return path  # a str path: an output


@task
def merge(parts: list[str], out_dir: str) -> str:
    merged = Path(out_dir, "merged.txt")
    merged.write_text("".join(Path(p).read_text() for p in parts))
    return str(merged)


@task
def summarize(merged: str, summary: Path, notes: Path) -> str:
    """``summary`` does not exist yet: written here, it is an output without a return."""
    fl.input(notes)  # declared: no parameter names it
    lines = Path(merged).read_text().splitlines()
    summary.write_text(f"{len(lines)} lines\n")
    extra = summary.with_name("extra.txt")
    extra.write_text("extra\n")
    fl.output(extra)
    return str(runtime_task_run.id)


@flow
def build(out_dir: str) -> str:
    return merge([write_part(i, out_dir) for i in range(3)], out_dir)


@flow
def pipeline(out_dir: str, notes: Path) -> str:
    merged = build(out_dir)  # a subflow's result, passed on in memory
    return summarize(merged, Path(out_dir) / "summary.txt", notes)


def test_str_paths_through_flow_subflow_and_tasks(instance: Instance, work: Path) -> None:
    out = work / "out"
    out.mkdir()
    notes = work / "notes.md"
    notes.write_text("notes")
    state = pipeline(str(out), notes, return_state=True)
    summary_id = state.result()
    top = _run_of(state)
    (sub,) = fl.Run.filter(reference_type=FLOW_RUN, initiated_by_run_id=top.id).all()

    merged = fl.Artifact.get(hash=hash_file(out / "merged.txt")[0])
    assert merged.key == "out/merged.txt"
    merge_run = merged.run
    assert merge_run is not None and merge_run.transform.key.endswith(".merge")
    parts = {a.key: a for a in merge_run.input_artifacts}
    assert sorted(parts) == [f"out/part-{i}.txt" for i in range(3)]
    writers = {a.run_id for a in parts.values()}
    assert len(writers) == 3 and None not in writers
    assert merge_run.initiated_by_run_id == sub.id and sub.initiated_by_run_id == top.id
    chain = {r.id for r, _ in merged.upstream().runs}
    assert {merge_run.id, sub.id, top.id} <= chain
    # the merge task used the results of the three write_part runs: result edges
    assert {(m, w) for m, w in _result_edges(instance) if m == merge_run.id} == {
        (merge_run.id, w) for w in writers}

    summary_run = _task_run(summary_id)
    assert {a.key for a in summary_run.output_artifacts} == {"out/summary.txt",
                                                             "out/extra.txt"}
    assert {a.key for a in summary_run.input_artifacts} == {"out/merged.txt", "notes.md"}
    # it used the subflow's result (the merged path): an edge to the subflow run
    assert (summary_run.id, sub.id) in _result_edges(instance)
    # the flows return what their tasks wrote: none of it is theirs
    assert top.output_artifacts.count() == sub.output_artifacts.count() == 0


# ---------------------------------------------------------------- in-memory results


@task
def numbers(n: int) -> list[int]:
    return list(range(n))


@task
def total(values: list[int], offset: int) -> int:
    return sum(values) + offset


@task
def side_effect() -> None:
    """Ordering only: a ``wait_for`` upstream is not a result the next task used."""


@flow
def in_memory() -> dict[str, str]:
    first = numbers.submit(4)
    done = side_effect.submit()
    second = total.submit(first, 1, wait_for=[done])
    assert second.result() == 7
    return {"numbers": str(first.task_run_id), "total": str(second.task_run_id),
            "side": str(done.task_run_id)}


def test_values_passed_in_memory_leave_result_edges(any_instance: Instance) -> None:
    ids = in_memory()
    runs = {name: _task_run(ref) for name, ref in ids.items()}
    assert _result_edges(any_instance) == {(runs["total"].id, runs["numbers"].id)}


# ---------------------------------------------------------------- failures and retries


_calls: dict[str, int] = {}


@task(retries=2)
def fails_twice(token: str) -> str:
    _calls[token] = _calls.get(token, 0) + 1
    if _calls[token] < 3:
        raise ValueError(f"attempt {_calls[token]} failed")
    return str(runtime_task_run.id)


@task(retries=1)
def always_fails() -> None:
    raise RuntimeError("boom")


@flow
def retrying(token: str) -> str:
    return fails_twice(token)


@flow
def failing() -> None:
    always_fails()


def test_retries_and_errors_are_recorded(instance: Instance) -> None:
    task_id = retrying(uuid.uuid4().hex)
    run = _task_run(task_id)
    assert run.status == "completed" and run.report is None
    assert run.features.get_values() == {
        "attempts": 3,
        "attempt_states": ["errored: ValueError: attempt 1 failed",
                           "errored: ValueError: attempt 2 failed", "completed"],
    }

    state = failing(return_state=True)
    assert state.is_failed()
    flow_run = _run_of(state)
    (task_run,) = flow_run.initiated_runs.all()
    values = task_run.features.get_values()
    assert (task_run.status, values["error_type"], values["error"]) == (
        "errored", "RuntimeError", "boom")
    assert values["attempts"] == 2 and values["attempt_states"] == [
        "errored: RuntimeError: boom", "errored: RuntimeError: boom"]
    report = task_run.report
    assert report is not None and report.kind == "report" and report.run_id is None
    text = Path(report.cache()).read_text()
    assert "Traceback" in text and "RuntimeError: boom" in text and "always_fails" in text
    flow_values = flow_run.features.get_values()
    assert flow_run.status == "errored" and flow_values["error_type"] == "RuntimeError"


@flow
def typed(x: int) -> int:
    return x


def test_invalid_parameters_record_prefects_message(instance: Instance) -> None:
    bad: Any = "not a number"
    state = typed(bad, return_state=True)
    run = _run_of(state)
    values = run.features.get_values()
    assert run.status == "errored" and values["error_type"] == "Failed"
    assert "Validation of flow parameters failed" in values["error"]
    assert run.report is not None


# ---------------------------------------------------------------- caching


@task(persist_result=True, cache_key_fn=lambda ctx, params: f"usage-{params['token']}")
def cached_copy(token: str, source: str, out_dir: str) -> str:
    out = Path(out_dir, "copy.txt")
    out.write_text(Path(source).read_text().upper())
    return str(out)


@flow
def cached_flow(token: str, source: str, out_dir: str) -> str:
    state = cached_copy(token, source, out_dir, return_state=True)
    return str(state.state_details.task_run_id)


def test_cached_runs_keep_inputs_and_a_marker(instance: Instance, work: Path) -> None:
    source = work / "source.txt"
    source.write_text("cached input")
    token = uuid.uuid4().hex
    first = _task_run(cached_flow(token, str(source), str(work)))
    second = _task_run(cached_flow(token, str(source), str(work)))
    (inp,) = first.input_artifacts.all()
    (out,) = first.output_artifacts.all()
    assert (inp.key, out.key) == ("source.txt", "copy.txt")
    assert first.features.get_values() == {}
    assert second.features.get_values() == {"cached": True}
    assert [a.id for a in second.input_artifacts] == [inp.id]
    assert [a.id for a in second.recreated_artifacts] == [out.id]


# ---------------------------------------------------------------- assets


@flow
def asset_flow(out_dir: Path) -> tuple[str, str]:
    table_uri = (out_dir / "table.csv").as_uri()

    @materialize(table_uri, "warehouse://analytics/table")
    def make_table() -> str:
        (out_dir / "table.csv").write_text("a,b\n1,2\n")
        return str(runtime_task_run.id)

    @task(asset_deps=[table_uri])
    def report() -> str:
        return str(runtime_task_run.id)

    made = tracked_task(make_table)()
    return made, tracked_task(report)()


def tracked_task(obj: Any) -> Any:
    from flowlineage_prefect import tracked

    return tracked(obj)


def test_assets_become_artifacts_and_features(instance: Instance, work: Path) -> None:
    out = work / "out"
    out.mkdir()
    made_id, report_id = asset_flow(out)
    made, report = _task_run(made_id), _task_run(report_id)
    table_uri = (out / "table.csv").as_uri()
    (table,) = made.output_artifacts.all()
    assert table.key == "out/table.csv" and table.hash == hash_file(out / "table.csv")[0]
    assert made.features.get_values() == {
        "assets": sorted([table_uri, "warehouse://analytics/table"])}
    assert [a.id for a in report.input_artifacts] == [table.id]
    assert report.features.get_values() == {"asset_deps": [table_uri]}


# ---------------------------------------------------------------- without our decorators


def test_enable_tracks_plain_prefect_flows(instance: Instance) -> None:
    enable()
    try:
        @prefect.task
        def double(x: int) -> int:
            return 2 * x

        @prefect.flow
        def plain(x: int) -> int:
            return double(x) + 1

    finally:
        disable()

    @prefect.flow
    def after(x: int) -> int:
        return x

    state = plain(2, return_state=True)
    assert state.result() == 5 and after(1) == 1
    run = _run_of(state)
    (task_run,) = run.initiated_runs.all()
    assert run.status == task_run.status == "completed"
    assert task_run.params == {"x": 2} and task_run.transform.type == "task"
    assert fl.Run.filter(reference_type=FLOW_RUN).count() == 1  # `after` is untracked


PLAIN_SCRIPT = """\
import prefect


@prefect.task
def shout(text: str) -> str:
    return text.upper()


@prefect.flow(name="plain-plugin-flow")
def plain(text: str) -> str:
    return shout(text)


print(plain("hi"))
"""


def test_prefect_plugin_tracks_a_script_without_changes(instance: Instance,
                                                        tmp_path: Path) -> None:
    """Prefect loads our ``prefect.plugins`` entry point (declared here by a dist-info
    folder on the path, as an installed package declares it) at ``import prefect``."""
    site = tmp_path / "site"
    info = site / "flowlineage_prefect_plugin-0.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: flowlineage-prefect-plugin\nVersion: 0.0\n")
    (info / "entry_points.txt").write_text(
        "[prefect.plugins]\nflowlineage = flowlineage_prefect.prefect_plugin\n")
    script = tmp_path / "plain.py"
    script.write_text(PLAIN_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]),
           "PREFECT_PLUGINS_ENABLED": "true",
           "PREFECT_API_URL": str(get_current_settings().api.url),
           "FLOWLINEAGE_DB": instance.settings.db_url}
    done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True,
                          text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().endswith("HI")
    (run,) = fl.Run.filter(reference_type=FLOW_RUN).all()
    (task_run,) = run.initiated_runs.all()
    assert run.name is not None and run.status == "completed"
    assert run.transform.key == "prefect:__main__.plain"
    assert task_run.params == {"text": "hi"} and task_run.status == "completed"

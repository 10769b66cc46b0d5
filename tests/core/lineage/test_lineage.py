"""Lineage walks: one recursive statement, up- and downstream, depth limits."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import flowlineage as fl
from flowlineage.adapters import (
    get_or_create_transform,
    link_run_inputs,
    register_artifacts,
    upsert_runs,
)
from flowlineage.db import tables
from flowlineage.db.engine import Instance
from flowlineage.lineage.edges import edges_between
from sqlalchemy import event, insert


@contextmanager
def count_statements(inst: Instance) -> Iterator[list[str]]:
    seen: list[str] = []

    def before(conn: object, cursor: object, statement: str, *args: object) -> None:
        if not statement.startswith(("BEGIN", "PRAGMA", "SAVEPOINT", "RELEASE")):
            seen.append(statement)

    event.listen(inst.engine, "before_cursor_execute", before)
    try:
        yield seen
    finally:
        event.remove(inst.engine, "before_cursor_execute", before)


def make_chain(tmp_path: Path, hops: int) -> list[fl.Artifact]:
    """run0 → a0 → run1 → a1 → ... (each run reads the previous artifact)."""
    tf = get_or_create_transform(key="step", type="function")
    arts: list[fl.Artifact] = []
    for i in range(hops):
        run = fl.Run(transform=tf, status="completed").save()
        if arts:
            link_run_inputs([(run.id, arts[-1].id)])  # type: ignore[list-item]
        path = tmp_path / f"a{i}.txt"
        path.write_text(str(i))
        arts.append(fl.Artifact(path, key=f"a{i}.txt", run=run).save())
    return arts


def test_upstream_and_downstream(any_instance: Instance, tmp_path: Path) -> None:
    arts = make_chain(tmp_path, 5)
    with count_statements(any_instance) as statements:
        up = arts[-1].upstream()
        edges = up.edges()
    # the walk with its edges (depths in Python), then runs, artifacts, transforms
    assert len(statements) == 4
    assert [a.key for a, _ in up.artifacts] == ["a3.txt", "a2.txt", "a1.txt", "a0.txt"]
    assert [d for _, d in up.artifacts] == [2, 4, 6, 8]
    assert len(up.runs) == 5
    down = arts[0].downstream()
    assert [a.key for a in down.artifact_list] == ["a1.txt", "a2.txt", "a3.txt", "a4.txt"]
    assert len(arts[-1].upstream(depth=2).artifact_list) == 1
    assert arts[0].run.upstream().artifact_list == []  # type: ignore[union-attr]
    assert (("artifact", arts[0].id), ("run", arts[1].run_id), "input") in edges
    assert (("run", arts[1].run_id), ("artifact", arts[1].id), "output") in edges
    data = up.to_dict()
    assert {n["label"] for n in data["nodes"] if n["kind"] == "artifact"} == {
        "a0.txt", "a1.txt", "a2.txt", "a3.txt"}


def test_walked_records_are_whole_records(any_instance: Instance, tmp_path: Path) -> None:
    """Records a walk hands out (built in bulk, not by the ORM's loader) equal those ``get``
    loads, follow their relations, describe themselves and save changes."""
    arts = make_chain(tmp_path, 3)
    up = arts[-1].upstream()
    run, art = up.run_list[0], up.artifact_list[0]
    columns = [c.key for c in fl.Run.__mapper__.column_attrs]
    assert {c: getattr(run, c) for c in columns} == {
        c: getattr(fl.Run.get(run.id), c) for c in columns}
    assert run.started_at is not None and run.started_at.tzinfo is not None
    assert run.status == "completed" and run.transform.key == "step"
    assert art.run.id == arts[1].run_id and art.path.endswith(art._storage_key)  # type: ignore[union-attr]
    assert art.key in art.describe(print_=False) and repr(run).startswith("Run(id=")
    assert up.start_record.id == arts[-1].id and up.transforms[run.transform_id].key == "step"
    art.description = "walked, then edited"
    art.save()
    assert fl.Artifact.get(art.id).description == "walked, then edited"
    run.params = {"alpha": 1}
    run.save()
    assert fl.Run.get(run.id).params == {"alpha": 1}


def test_walks_leave_gc_as_they_found_it(instance: Instance, tmp_path: Path) -> None:
    arts = make_chain(tmp_path, 2)
    assert gc.isenabled()
    assert len(arts[-1].upstream()) == 3 and gc.isenabled()
    gc.disable()
    try:
        assert len(arts[0].downstream()) == 2 and not gc.isenabled()
    finally:
        gc.enable()


def _flow_task_output(tmp_path: Path, key: str) -> tuple[Any, Any, Any]:
    """A flow run, a task run it initiated, and an artifact the task wrote."""
    tf = get_or_create_transform(key=key, type="flow")
    flow = fl.Run(transform=tf).save()
    task = fl.Run(transform=tf, initiated_by_run=flow).save()
    path = tmp_path / f"{key}.txt"
    path.write_text(f"{key} output")
    return flow, task, fl.Artifact(path, run=task).save()


def test_initiated_by_parents_are_upstream(any_instance: Instance, tmp_path: Path) -> None:
    flow, task, art = _flow_task_output(tmp_path, "flow")
    up = art.upstream()
    assert [r.id for r in up.run_list] == [task.id, flow.id]
    assert (("run", flow.id), ("run", task.id), "initiated") in up.edges()
    assert [r.id for r in flow.downstream().run_list] == [task.id]


def test_cycles_end(any_instance: Instance, tmp_path: Path) -> None:
    """A flow that reads its own task's output makes a cycle; walks still end."""
    flow, task, out = _flow_task_output(tmp_path, "cyclic")
    link_run_inputs([(flow.id, out.id)])  # type: ignore[list-item]
    up = out.upstream()
    down = flow.downstream()
    assert {r.id for r in up.run_list} == {task.id, flow.id}
    assert {a.id for a in down.artifact_list} == {out.id}
    assert dict((r.id, d) for r, d in up.runs) == {task.id: 1, flow.id: 2}


def test_result_edges(any_instance: Instance, tmp_path: Path) -> None:
    """``run_input_run`` rows (run used the in-memory result of input run) are walked,
    listed by ``edges_between`` and drawn."""
    tf = get_or_create_transform(key="task", type="task")
    first, second, third = (fl.Run(transform=tf, status="completed").save() for _ in range(3))
    with any_instance.write() as s:
        s.execute(insert(tables.run_input_run), [
            {"run_id": second.id, "input_run_id": first.id},
            {"run_id": third.id, "input_run_id": second.id}])
    path = tmp_path / "out.txt"
    path.write_text("result")
    out = fl.Artifact(path, key="out.txt", run=third).save()
    up = out.upstream()
    assert [(r.id, d) for r, d in up.runs] == [(third.id, 1), (second.id, 2), (first.id, 3)]
    assert (("run", first.id), ("run", second.id), "result") in up.edges()
    down = first.downstream()
    assert [(r.id, d) for r, d in down.runs] == [(second.id, 1), (third.id, 2)]
    assert [a.id for a in down.artifact_list] == [out.id]
    assert edges_between({first.id, second.id, third.id}, set()) == [
        (("run", first.id), ("run", second.id), "result"),
        (("run", second.id), ("run", third.id), "result")]
    assert "result used by: run task" in first.view_lineage(direction="downstream")
    assert f"run_{first.id} -- result --> run_{second.id}" in first.view_lineage(
        format="mermaid", direction="downstream")
    assert f'"run:{second.id}" -> "run:{third.id}" [style=bold, label="result"' in (
        out.view_lineage(format="dot"))
    data = json.loads(out.view_lineage(format="json"))
    assert {"source": f"run:{second.id}", "target": f"run:{third.id}",
            "kind": "result"} in data["edges"]


def test_statement_counts_do_not_grow_with_depth(any_instance: Instance) -> None:
    """At 2,000 hops a walk, ``to_dict`` and ``view_lineage`` stay within a few statements
    (no statement per node or per run)."""
    hops = 2000
    tf = get_or_create_transform(key="deep", type="function")
    ids = upsert_runs([{"reference_type": "deep", "reference": str(i), "transform_id": tf.id,
                        "status": "completed"} for i in range(hops)])
    run_ids = [ids[("deep", str(i))] for i in range(hops)]
    arts = register_artifacts([
        {"hash": f"deep{i}", "_hash_type": "synthetic", "storage_id": any_instance.storage_id,
         "_storage_key": f"deep/{i}", "key": f"deep/{i}", "run_id": run_ids[i]}
        for i in range(hops)])
    link_run_inputs([(run_ids[i], arts[f"deep{i - 1}"]) for i in range(1, hops)])
    last, first = fl.Artifact.get(arts[f"deep{hops - 1}"]), fl.Run.get(run_ids[0])
    with count_statements(any_instance) as walk_statements:
        up = last.upstream()
    with count_statements(any_instance) as dict_statements:
        data = up.to_dict()
    with count_statements(any_instance) as view_statements:
        drawn = json.loads(last.view_lineage(format="json"))
    with count_statements(any_instance) as down_statements:
        down = first.downstream()
    assert len(up) == 2 * hops - 1 and len(down) == 2 * hops - 1
    assert len(data["nodes"]) == 2 * hops - 1 and len(drawn["nodes"]) == 2 * hops
    assert len(drawn["edges"]) == 2 * hops - 1
    assert max(up.artifacts, key=lambda item: item[1])[1] == 2 * hops - 2
    assert (len(walk_statements), len(dict_statements), len(view_statements),
            len(down_statements)) == (4, 0, 4, 4)

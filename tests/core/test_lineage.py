"""Lineage walks: one recursive statement, up- and downstream, depth limits."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import flowlineage as fl
from flowlineage.adapters import get_or_create_transform, link_run_inputs
from flowlineage.db.engine import Instance
from sqlalchemy import event


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
    assert len(statements) == 2  # nodes with their records, then edges; depths in Python
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


def test_initiated_by_parents_are_upstream(any_instance: Instance, tmp_path: Path) -> None:
    tf = get_or_create_transform(key="flow", type="flow")
    flow = fl.Run(transform=tf).save()
    task = fl.Run(transform=tf, initiated_by_run=flow).save()
    path = tmp_path / "o.txt"
    path.write_text("o")
    art = fl.Artifact(path, run=task).save()
    up = art.upstream()
    assert [r.id for r in up.run_list] == [task.id, flow.id]
    assert (("run", flow.id), ("run", task.id), "initiated") in up.edges()
    assert [r.id for r in flow.downstream().run_list] == [task.id]


def test_cycles_end(any_instance: Instance, tmp_path: Path) -> None:
    """A flow that reads its own task's output makes a cycle; walks still end."""
    tf = get_or_create_transform(key="cyclic", type="flow")
    flow = fl.Run(transform=tf).save()
    task = fl.Run(transform=tf, initiated_by_run=flow).save()
    path = tmp_path / "t.txt"
    path.write_text("task output")
    out = fl.Artifact(path, run=task).save()
    link_run_inputs([(flow.id, out.id)])  # type: ignore[list-item]
    up = out.upstream()
    down = flow.downstream()
    assert {r.id for r in up.run_list} == {task.id, flow.id}
    assert {a.id for a in down.artifact_list} == {out.id}
    assert dict((r.id, d) for r, d in up.runs) == {task.id: 1, flow.id: 2}

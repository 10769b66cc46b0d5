"""Lineage walks up- and downstream in linear time (SQLite and PostgreSQL).

The graph has runs and artifacts as nodes. Upstream edges: artifact → its creating run,
run → its input artifacts, run → the members of its input collections (the collection hop
is collapsed: members count as inputs), run → the run that initiated it, run → the runs
whose in-memory result it used (``run_input_run``). Downstream edges are the reverse. Every
hop is an index lookup (``_HOPS`` lists them once for the walk and for its edges).

One statement finds the reachable ``(kind, id)`` set (``UNION`` keeps each node once, so
cycles, e.g. a flow reading its own task's output, cost nothing) and returns each node's
edges in the walk's direction, again one index lookup per node and kind (no ``IN`` probe
against the node set, which made SQLite quadratic). Distances come from a breadth-first pass
in Python; the records are loaded by id, the ids sent as one parameter, as Core rows made
into detached records in bulk (``db.record.detached_records``: the ORM's per-row loader cost
more than the walk itself), with garbage collection paused while they are built.
"""

from __future__ import annotations

import gc
import json
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal

from sqlalchemy import (
    ARRAY,
    Integer,
    Select,
    Table,
    TextClause,
    any_,
    bindparam,
    column,
    func,
    select,
    text,
)
from sqlalchemy.orm import Session

from ..db import tables
from ..db.engine import get_instance
from ..db.record import detached_records, entity
from .edges import node_dicts

Direction = Literal["upstream", "downstream"]
Node = tuple[str, int]
Edge = tuple[Node, Node, str]

@dataclass(frozen=True)
class _Hop:
    """One kind of edge walked from a ``walked`` node to a ``reached`` one: the tables to
    join, the condition tying them to the walked node ``{n}``, the reached id, and the edge
    as ``(kind, source kind, source id, target kind, target id)`` in data-flow direction."""

    walked: str
    reached: str
    tables: str
    on: str
    far: str
    edge: tuple[str, str, str, str, str]


_COLLECTION_INPUTS = ("run_input_collection ric JOIN collection_artifact ca "
                      "ON ca.collection_id = ric.collection_id")
_HOPS: dict[str, tuple[_Hop, ...]] = {
    "upstream": (
        _Hop("artifact", "run", "artifact a", "a.id = {n}.id AND a.run_id IS NOT NULL",
             "a.run_id", ("output", "run", "a.run_id", "artifact", "a.id")),
        _Hop("run", "artifact", "run_input_artifact ria", "ria.run_id = {n}.id",
             "ria.artifact_id", ("input", "artifact", "ria.artifact_id", "run", "ria.run_id")),
        _Hop("run", "artifact", _COLLECTION_INPUTS, "ric.run_id = {n}.id", "ca.artifact_id",
             ("input", "artifact", "ca.artifact_id", "run", "ric.run_id")),
        _Hop("run", "run", "run r", "r.id = {n}.id AND r.initiated_by_run_id IS NOT NULL",
             "r.initiated_by_run_id", ("initiated", "run", "r.initiated_by_run_id", "run",
                                       "r.id")),
        _Hop("run", "run", "run_input_run rr", "rr.run_id = {n}.id", "rr.input_run_id",
             ("result", "run", "rr.input_run_id", "run", "rr.run_id")),
    ),
    "downstream": (
        _Hop("artifact", "run", "run_input_artifact ria", "ria.artifact_id = {n}.id",
             "ria.run_id", ("input", "artifact", "ria.artifact_id", "run", "ria.run_id")),
        _Hop("artifact", "run", _COLLECTION_INPUTS, "ca.artifact_id = {n}.id", "ric.run_id",
             ("input", "artifact", "ca.artifact_id", "run", "ric.run_id")),
        _Hop("run", "artifact", "artifact a", "a.run_id = {n}.id", "a.id",
             ("output", "run", "a.run_id", "artifact", "a.id")),
        _Hop("run", "run", "run r", "r.initiated_by_run_id = {n}.id", "r.id",
             ("initiated", "run", "r.initiated_by_run_id", "run", "r.id")),
        _Hop("run", "run", "run_input_run rr", "rr.input_run_id = {n}.id", "rr.run_id",
             ("result", "run", "rr.input_run_id", "run", "rr.run_id")),
    ),
}


def walk_sql(dialect: str, direction: Direction, limited: bool) -> str:
    """The walk and the edges of every reached node in the walk's direction.

    The recursive part references the walk once per step, as PostgreSQL requires: there a
    ``LATERAL`` union of the hops, on SQLite one recursive ``SELECT`` per hop. With a depth
    limit the walk carries depth (bounded, so cycles end).
    """
    hops = _HOPS[direction]
    depth, seed, deeper, within = ("", "", "", "")
    if limited:
        depth, seed, deeper, within = (", depth", ", 0", ", w.depth + 1",
                                       " AND w.depth < :max_depth")
    if dialect == "postgresql":
        branches = "\n    UNION ALL\n".join(
            f"    SELECT '{h.reached}', {h.far} FROM {h.tables} "
            f"WHERE w.kind = '{h.walked}' AND {h.on.format(n='w')}" for h in hops)
        steps = (f"  SELECT e.kind, e.id{deeper} FROM walk w CROSS JOIN LATERAL (\n{branches}"
                 f"\n  ) AS e(kind, id){within.replace(' AND', ' WHERE')}")
    else:
        steps = "\n  UNION\n".join(
            f"  SELECT '{h.reached}', {h.far}{deeper} FROM walk w, {h.tables} "
            f"WHERE w.kind = '{h.walked}' AND {h.on.format(n='w')}{within}" for h in hops)
    edges = "\nUNION ALL\n".join(
        f"SELECT '{h.edge[0]}', '{h.edge[1]}', {h.edge[2]}, '{h.edge[3]}', {h.edge[4]} "
        f"FROM nodes n, {h.tables} WHERE n.kind = '{h.walked}' AND {h.on.format(n='n')}"
        for h in hops)
    return (f"WITH RECURSIVE walk(kind, id{depth}) AS (\n"
            f"  SELECT CAST(:kind AS VARCHAR), CAST(:id AS INTEGER){seed}\n  UNION\n"
            f"{steps}\n), nodes AS (SELECT DISTINCT kind, id FROM walk)\n{edges}")


@cache
def _walk_statement(dialect: str, direction: Direction, limited: bool) -> TextClause:
    """``walk_sql`` as a statement, parsed once."""
    return text(walk_sql(dialect, direction, limited))


@dataclass
class Lineage:
    """The result of a walk: runs and artifacts with their distance from the start."""

    start: tuple[str, int]
    direction: Direction
    runs: list[tuple[Any, int]] = field(default_factory=list)
    artifacts: list[tuple[Any, int]] = field(default_factory=list)
    all_edges: list[Edge] = field(default_factory=list)
    """Every edge among the reached nodes and the start."""
    start_record: Any = None
    """The run or artifact the walk started from."""
    transforms: dict[int, Any] = field(default_factory=dict)
    """The transforms of the runs (start included) by id, loaded with them."""

    def __len__(self) -> int:
        return len(self.runs) + len(self.artifacts)

    @property
    def run_list(self) -> list[Any]:
        """The runs reached, nearest first."""
        return [r for r, _ in self.runs]

    @property
    def artifact_list(self) -> list[Any]:
        """The artifacts reached, nearest first."""
        return [a for a, _ in self.artifacts]

    def edges(self) -> list[Edge]:
        """Edges among the nodes (start excluded) as ``(source, target, kind)``, in data-flow
        direction. Kinds: ``input`` (artifact → run), ``output`` (run → artifact),
        ``initiated`` (parent run → child run) and ``result`` (run → the run that used its
        in-memory result)."""
        return [e for e in self.all_edges if self.start not in (e[0], e[1])]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: nodes with depth, and edges."""
        nodes = node_dicts([*self.runs, *self.artifacts], self.transforms)
        return {
            "start": {"kind": self.start[0], "id": self.start[1]},
            "direction": self.direction,
            "nodes": nodes,
            "edges": [
                {"source": f"{s[0]}:{s[1]}", "target": f"{t[0]}:{t[1]}", "kind": k}
                for s, t, k in self.edges()
            ],
        }


def walk(kind: str, node_id: int, direction: Direction, depth: int | None = None) -> Lineage:
    """Walk the lineage graph from a run or artifact; start excluded.

    One statement walks and returns the edges of every reached node; distances come from a
    breadth-first pass over them in Python; then one statement each loads the runs, the
    artifacts and the runs' transforms (kept in ``Lineage.transforms``).
    """
    start: Node = (kind, node_id)
    params: dict[str, Any] = {"kind": kind, "id": node_id}
    if depth is not None:
        params["max_depth"] = depth
    inst = get_instance()
    statement = _walk_statement(inst.dialect, direction, depth is not None)
    with _gc_paused():
        with inst.read() as s:
            found = [((k1, i1), (k2, i2), kind_) for kind_, k1, i1, k2, i2 in
                     s.execute(statement, params).all()]
            distance = _distances(start, found, direction, depth)
            records: dict[Node, Any] = {}
            for table in (tables.run, tables.artifact):
                ids = [i for k, i in distance if k == table.name]
                for record in _load(s, inst.dialect, table, ids):
                    records[(table.name, record.id)] = record
            tf_ids = sorted({r.transform_id for (k, _), r in records.items() if k == "run"})
            transforms = {t.id: t for t in _load(s, inst.dialect, tables.transform, tf_ids)}
        result = Lineage(start, direction, transforms=transforms,
                         start_record=records.get(start))
        result.all_edges = sorted({e for e in found if e[0] in records and e[1] in records})
        reached = [n for n in distance if n in records]  # breadth-first: nearly sorted
        for node in sorted(reached, key=lambda n: (distance[n], n[1])):  # nearest first
            if node != start:
                (result.runs if node[0] == "run" else result.artifacts).append(
                    (records[node], distance[node]))
    return result


def _load(s: Session, dialect: str, table: Table, ids: list[int]) -> list[Any]:
    """The records of ``table`` with these ids, in one statement (none without ids)."""
    if not ids:
        return []
    value = ids if dialect == "postgresql" else json.dumps(ids)
    return detached_records(entity(table), s.execute(_by_ids(dialect, table),
                                                     {"ids": value}).all())


@cache
def _by_ids(dialect: str, table: Table) -> Select[Any]:
    """Rows of ``table`` whose id is one of ``:ids``, sent as one parameter whatever their
    number (an array, or JSON on SQLite); built once, so its cache key is too."""
    if dialect == "postgresql":
        return select(table).where(table.c.id == any_(bindparam("ids", type_=ARRAY(Integer))))
    return select(table).where(table.c.id.in_(select(column("value", Integer)).select_from(
        func.json_each(bindparam("ids")))))


@contextmanager
def _gc_paused() -> Iterator[None]:
    """No garbage collection while a walk builds its many acyclic objects: each pass over
    the young objects would otherwise cost as much as building them."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _distances(start: Node, edges: list[Edge], direction: Direction,
               depth: int | None = None) -> dict[Node, int]:
    """Hops from ``start`` along the walk's direction (breadth-first over the edges), up to
    ``depth`` hops when given."""
    nexts: dict[Node, list[Node]] = {}
    for source, target, _ in edges:
        a, b = (target, source) if direction == "upstream" else (source, target)
        nexts.setdefault(a, []).append(b)
    distance = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        if depth is not None and distance[node] >= depth:
            continue
        for nxt in nexts.get(node, ()):
            if nxt not in distance:
                distance[nxt] = distance[node] + 1
                queue.append(nxt)
    return distance

"""Lineage walks up- and downstream in linear time (SQLite and PostgreSQL).

The graph has runs and artifacts as nodes. Upstream edges: artifact → its creating run,
run → its input artifacts, run → the members of its input collections (the collection hop
is collapsed: members count as inputs), run → the run that initiated it, run → the runs
whose in-memory result it used (``run_input_run``). Downstream edges are the reverse. Each
recursive step is a single self-reference (PostgreSQL's rule) that picks the edge kind with
a small ``steps`` table, so every hop is an index lookup.

One statement finds the reachable ``(kind, id)`` set (``UNION`` keeps each node once, so
cycles, e.g. a flow reading its own task's output, cost nothing) and returns each node's
edges in the walk's direction, again one index lookup per node and kind (no ``IN`` probe
against the node set, which made SQLite quadratic). Distances come from a breadth-first pass
in Python; the records are loaded by id, the ids sent as one parameter.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import ARRAY, Integer, any_, bindparam, column, func, select, text

from ..db import tables
from ..db.engine import get_instance
from ..db.record import entity
from .edges import node_dicts

Direction = Literal["upstream", "downstream"]
Node = tuple[str, int]
Edge = tuple[Node, Node, str]

_TEMPLATES = {"upstream": """
WITH RECURSIVE steps(k) AS (VALUES (0), (1), (2), (3), (4)),
walk(kind, id{depth_col}) AS (
  SELECT :kind, :id{depth_zero}
  UNION
  SELECT
    CASE WHEN w.kind = 'artifact' THEN 'run' WHEN t.k IN (1, 3) THEN 'artifact' ELSE 'run' END,
    CASE WHEN w.kind = 'artifact' THEN a.run_id WHEN t.k = 1 THEN ria.artifact_id
         WHEN t.k = 3 THEN ca.artifact_id WHEN t.k = 4 THEN rr.input_run_id
         ELSE r.initiated_by_run_id END{depth_next}
  FROM walk w
  JOIN steps t ON (w.kind = 'artifact' AND t.k = 0) OR (w.kind = 'run' AND t.k IN (1, 2, 3, 4))
  LEFT JOIN artifact a ON t.k = 0 AND a.id = w.id
  LEFT JOIN run_input_artifact ria ON t.k = 1 AND ria.run_id = w.id
  LEFT JOIN run r ON t.k = 2 AND r.id = w.id
  LEFT JOIN run_input_collection ric ON t.k = 3 AND ric.run_id = w.id
  LEFT JOIN collection_artifact ca ON t.k = 3 AND ca.collection_id = ric.collection_id
  LEFT JOIN run_input_run rr ON t.k = 4 AND rr.run_id = w.id
  WHERE (CASE WHEN w.kind = 'artifact' THEN a.run_id WHEN t.k = 1 THEN ria.artifact_id
              WHEN t.k = 3 THEN ca.artifact_id WHEN t.k = 4 THEN rr.input_run_id
              ELSE r.initiated_by_run_id END) IS NOT NULL
    {depth_where}
)""", "downstream": """
WITH RECURSIVE steps(k) AS (VALUES (0), (1), (2), (3), (4)),
walk(kind, id{depth_col}) AS (
  SELECT :kind, :id{depth_zero}
  UNION
  SELECT
    CASE WHEN w.kind = 'artifact' THEN 'run' WHEN t.k = 1 THEN 'artifact' ELSE 'run' END,
    CASE WHEN t.k = 0 THEN ria.run_id WHEN t.k = 1 THEN a.id WHEN t.k = 3 THEN ric.run_id
         WHEN t.k = 4 THEN rr.run_id ELSE r.id END{depth_next}
  FROM walk w
  JOIN steps t ON (w.kind = 'artifact' AND t.k IN (0, 3)) OR (w.kind = 'run' AND t.k IN (1, 2, 4))
  LEFT JOIN run_input_artifact ria ON t.k = 0 AND ria.artifact_id = w.id
  LEFT JOIN artifact a ON t.k = 1 AND a.run_id = w.id
  LEFT JOIN run r ON t.k = 2 AND r.initiated_by_run_id = w.id
  LEFT JOIN collection_artifact ca ON t.k = 3 AND ca.artifact_id = w.id
  LEFT JOIN run_input_collection ric ON t.k = 3 AND ric.collection_id = ca.collection_id
  LEFT JOIN run_input_run rr ON t.k = 4 AND rr.input_run_id = w.id
  WHERE (CASE WHEN t.k = 0 THEN ria.run_id WHEN t.k = 1 THEN a.id WHEN t.k = 3 THEN ric.run_id
              WHEN t.k = 4 THEN rr.run_id ELSE r.id END) IS NOT NULL
    {depth_where}
)"""}

# The edges of every reached node in the walk's direction (one index lookup per node and
# kind; the far ends beyond a depth limit are dropped in Python). Every edge among the
# reached nodes is among these: its far end was reached through it.
_EDGES = {"upstream": """
, nodes AS (SELECT DISTINCT kind, id FROM walk)
SELECT 'output', 'run', a.run_id, 'artifact', a.id
  FROM nodes n JOIN artifact a ON a.id = n.id WHERE n.kind = 'artifact' AND a.run_id IS NOT NULL
UNION ALL
SELECT 'input', 'artifact', ria.artifact_id, 'run', ria.run_id
  FROM nodes n JOIN run_input_artifact ria ON ria.run_id = n.id WHERE n.kind = 'run'
UNION ALL
SELECT 'input', 'artifact', ca.artifact_id, 'run', ric.run_id
  FROM nodes n JOIN run_input_collection ric ON ric.run_id = n.id
  JOIN collection_artifact ca ON ca.collection_id = ric.collection_id WHERE n.kind = 'run'
UNION ALL
SELECT 'initiated', 'run', r.initiated_by_run_id, 'run', r.id
  FROM nodes n JOIN run r ON r.id = n.id
  WHERE n.kind = 'run' AND r.initiated_by_run_id IS NOT NULL
UNION ALL
SELECT 'result', 'run', rr.input_run_id, 'run', rr.run_id
  FROM nodes n JOIN run_input_run rr ON rr.run_id = n.id WHERE n.kind = 'run'
""", "downstream": """
, nodes AS (SELECT DISTINCT kind, id FROM walk)
SELECT 'input', 'artifact', ria.artifact_id, 'run', ria.run_id
  FROM nodes n JOIN run_input_artifact ria ON ria.artifact_id = n.id WHERE n.kind = 'artifact'
UNION ALL
SELECT 'input', 'artifact', ca.artifact_id, 'run', ric.run_id
  FROM nodes n JOIN collection_artifact ca ON ca.artifact_id = n.id
  JOIN run_input_collection ric ON ric.collection_id = ca.collection_id
  WHERE n.kind = 'artifact'
UNION ALL
SELECT 'output', 'run', a.run_id, 'artifact', a.id
  FROM nodes n JOIN artifact a ON a.run_id = n.id WHERE n.kind = 'run'
UNION ALL
SELECT 'initiated', 'run', r.initiated_by_run_id, 'run', r.id
  FROM nodes n JOIN run r ON r.initiated_by_run_id = n.id WHERE n.kind = 'run'
UNION ALL
SELECT 'result', 'run', rr.input_run_id, 'run', rr.run_id
  FROM nodes n JOIN run_input_run rr ON rr.input_run_id = n.id WHERE n.kind = 'run'
"""}


def _cte(direction: Direction, limited: bool) -> str:
    """The recursive walk; with a depth limit it carries depth (bounded, so cycles end)."""
    parts = {"depth_col": "", "depth_zero": "", "depth_next": "", "depth_where": ""}
    if limited:
        parts = {"depth_col": ", depth", "depth_zero": ", 0", "depth_next": ",\n    w.depth + 1",
                 "depth_where": "AND w.depth < :max_depth"}
    return _TEMPLATES[direction].format(**parts)


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
    cte = _cte(direction, limited=depth is not None)
    inst = get_instance()
    with inst.read() as s:
        found = [((k1, i1), (k2, i2), kind_) for kind_, k1, i1, k2, i2 in
                 s.execute(text(cte + _EDGES[direction]).bindparams(**params))]
        distance = _distances(start, found, direction, depth)
        records: dict[Node, Any] = {}
        for table in (tables.run, tables.artifact):
            ids = [i for k, i in distance if k == table.name]
            if ids:
                cls = entity(table)
                for record in s.scalars(select(cls).where(_among(inst.dialect, cls.id, ids))):
                    records[(table.name, record.id)] = record
        tf_ids = sorted({r.transform_id for (k, _), r in records.items() if k == "run"})
        tf_cls = entity(tables.transform)
        transforms = {t.id: t for t in s.scalars(
            select(tf_cls).where(_among(inst.dialect, tf_cls.id, tf_ids)))} if tf_ids else {}
    result = Lineage(start, direction, transforms=transforms, start_record=records.get(start))
    result.all_edges = sorted({e for e in found if e[0] in records and e[1] in records})
    for node, record in records.items():
        d = distance[node]
        if d:
            (result.runs if node[0] == "run" else result.artifacts).append((record, d))
    result.runs.sort(key=lambda x: (x[1], x[0].id))
    result.artifacts.sort(key=lambda x: (x[1], x[0].id))
    return result


def _among(dialect: str, col: Any, ids: list[int]) -> Any:
    """``col`` is one of ``ids``, sent as one parameter whatever their number."""
    if dialect == "postgresql":
        return col == any_(bindparam("ids", ids, type_=ARRAY(Integer)))
    return col.in_(select(column("value", Integer)).select_from(
        func.json_each(bindparam("ids", json.dumps(ids)))))


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

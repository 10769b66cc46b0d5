"""Lineage walks up- and downstream in two SQL statements (SQLite and PostgreSQL).

The graph has runs and artifacts as nodes. Upstream edges: artifact → its creating run,
run → its input artifacts, run → the members of its input collections (the collection hop
is collapsed: members count as inputs), run → the run that initiated it. Downstream edges
are the reverse. Each recursive step is a single self-reference (PostgreSQL's rule) that
picks the edge kind with a small ``steps`` table, so every hop is an index lookup.

Statement one finds the reachable ``(kind, id)`` set (``UNION`` keeps each node once, so
cycles, e.g. a flow reading its own task's output, cost nothing) with the records;
statement two returns the edges among those nodes, and distances come from a breadth-first
pass over them in Python.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlalchemy import Integer, String, and_, column, select, text

from ..db import tables
from ..db.engine import get_instance
from ..db.record import entity
from .edges import node_dict

Direction = Literal["upstream", "downstream"]
Node = tuple[str, int]
Edge = tuple[Node, Node, str]

_TEMPLATES = {"upstream": """
WITH RECURSIVE steps(k) AS (VALUES (0), (1), (2), (3)),
walk(kind, id{depth_col}) AS (
  SELECT :kind, :id{depth_zero}
  UNION
  SELECT
    CASE WHEN w.kind = 'artifact' THEN 'run' WHEN t.k IN (1, 3) THEN 'artifact' ELSE 'run' END,
    CASE WHEN w.kind = 'artifact' THEN a.run_id WHEN t.k = 1 THEN ria.artifact_id
         WHEN t.k = 3 THEN ca.artifact_id ELSE r.initiated_by_run_id END{depth_next}
  FROM walk w
  JOIN steps t ON (w.kind = 'artifact' AND t.k = 0) OR (w.kind = 'run' AND t.k IN (1, 2, 3))
  LEFT JOIN artifact a ON t.k = 0 AND a.id = w.id
  LEFT JOIN run_input_artifact ria ON t.k = 1 AND ria.run_id = w.id
  LEFT JOIN run r ON t.k = 2 AND r.id = w.id
  LEFT JOIN run_input_collection ric ON t.k = 3 AND ric.run_id = w.id
  LEFT JOIN collection_artifact ca ON t.k = 3 AND ca.collection_id = ric.collection_id
  WHERE (CASE WHEN w.kind = 'artifact' THEN a.run_id WHEN t.k = 1 THEN ria.artifact_id
              WHEN t.k = 3 THEN ca.artifact_id ELSE r.initiated_by_run_id END) IS NOT NULL
    {depth_where}
)""", "downstream": """
WITH RECURSIVE steps(k) AS (VALUES (0), (1), (2), (3)),
walk(kind, id{depth_col}) AS (
  SELECT :kind, :id{depth_zero}
  UNION
  SELECT
    CASE WHEN w.kind = 'artifact' THEN 'run' WHEN t.k = 1 THEN 'artifact' ELSE 'run' END,
    CASE WHEN t.k = 0 THEN ria.run_id WHEN t.k = 1 THEN a.id WHEN t.k = 3 THEN ric.run_id
         ELSE r.id END{depth_next}
  FROM walk w
  JOIN steps t ON (w.kind = 'artifact' AND t.k IN (0, 3)) OR (w.kind = 'run' AND t.k IN (1, 2))
  LEFT JOIN run_input_artifact ria ON t.k = 0 AND ria.artifact_id = w.id
  LEFT JOIN artifact a ON t.k = 1 AND a.run_id = w.id
  LEFT JOIN run r ON t.k = 2 AND r.initiated_by_run_id = w.id
  LEFT JOIN collection_artifact ca ON t.k = 3 AND ca.artifact_id = w.id
  LEFT JOIN run_input_collection ric ON t.k = 3 AND ric.collection_id = ca.collection_id
  WHERE (CASE WHEN t.k = 0 THEN ria.run_id WHEN t.k = 1 THEN a.id WHEN t.k = 3 THEN ric.run_id
              ELSE r.id END) IS NOT NULL
    {depth_where}
)"""}

_EDGES = """
, nodes AS (SELECT DISTINCT kind, id FROM walk)
SELECT 'output', 'run', a.run_id, 'artifact', a.id
  FROM nodes n JOIN artifact a ON n.kind = 'artifact' AND a.id = n.id
  WHERE a.run_id IN (SELECT id FROM nodes WHERE kind = 'run')
UNION ALL
SELECT 'input', 'artifact', ria.artifact_id, 'run', ria.run_id
  FROM nodes n JOIN run_input_artifact ria ON n.kind = 'run' AND ria.run_id = n.id
  WHERE ria.artifact_id IN (SELECT id FROM nodes WHERE kind = 'artifact')
UNION ALL
SELECT 'input', 'artifact', ca.artifact_id, 'run', ric.run_id
  FROM nodes n JOIN run_input_collection ric ON n.kind = 'run' AND ric.run_id = n.id
  JOIN collection_artifact ca ON ca.collection_id = ric.collection_id
  WHERE ca.artifact_id IN (SELECT id FROM nodes WHERE kind = 'artifact')
UNION ALL
SELECT 'initiated', 'run', r.initiated_by_run_id, 'run', r.id
  FROM nodes n JOIN run r ON n.kind = 'run' AND r.id = n.id
  WHERE r.initiated_by_run_id IN (SELECT id FROM nodes WHERE kind = 'run')
"""


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
        direction. Kinds: ``input`` (artifact → run), ``output`` (run → artifact) and
        ``initiated`` (parent run → child run)."""
        return [e for e in self.all_edges if self.start not in (e[0], e[1])]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: nodes with depth, and edges."""
        nodes = [node_dict(r, d) for r, d in self.runs] + [
            node_dict(a, d) for a, d in self.artifacts
        ]
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
    """Walk the lineage graph from a run or artifact (two SQL statements); start excluded."""
    run_cls, artifact_cls = entity(tables.run), entity(tables.artifact)
    cte = _cte(direction, limited=depth is not None)
    params: dict[str, Any] = {"kind": kind, "id": node_id}
    if depth is not None:
        params["max_depth"] = depth
    nodes = (
        text(cte + " SELECT DISTINCT kind, id FROM walk")
        .bindparams(**params)
        .columns(column("kind", String), column("id", Integer))
        .subquery("nodes")
    )
    stmt = (
        select(run_cls, artifact_cls)
        .select_from(nodes)
        .outerjoin(run_cls, and_(nodes.c.kind == "run", run_cls.id == nodes.c.id))
        .outerjoin(artifact_cls, and_(nodes.c.kind == "artifact", artifact_cls.id == nodes.c.id))
    )
    runs: dict[int, Any] = {}
    artifacts: dict[int, Any] = {}
    with get_instance().read() as s:
        for run, artifact in s.execute(stmt):
            if run is not None:
                runs[run.id] = run
            elif artifact is not None:
                artifacts[artifact.id] = artifact
        edges: list[Edge] = sorted(
            ((k1, i1), (k2, i2), kind_)
            for kind_, k1, i1, k2, i2 in s.execute(text(cte + _EDGES).bindparams(**params))
        )
    start: Node = (kind, node_id)
    distance = _distances(start, edges, direction)
    result = Lineage(start, direction, all_edges=edges)
    limit = depth if depth is not None else len(distance)
    for rid, run in runs.items():
        d = distance.get(("run", rid))
        if d is not None and 0 < d <= limit:
            result.runs.append((run, d))
    for aid, art in artifacts.items():
        d = distance.get(("artifact", aid))
        if d is not None and 0 < d <= limit:
            result.artifacts.append((art, d))
    result.runs.sort(key=lambda x: (x[1], x[0].id))
    result.artifacts.sort(key=lambda x: (x[1], x[0].id))
    return result


def _distances(start: Node, edges: list[Edge], direction: Direction) -> dict[Node, int]:
    """Hops from ``start`` along the walk's direction (breadth-first over the edges)."""
    nexts: dict[Node, list[Node]] = {}
    for source, target, _ in edges:
        a, b = (target, source) if direction == "upstream" else (source, target)
        nexts.setdefault(a, []).append(b)
    distance = {start: 0}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for nxt in nexts.get(node, ()):
            if nxt not in distance:
                distance[nxt] = distance[node] + 1
                queue.append(nxt)
    return distance

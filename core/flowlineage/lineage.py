"""Lineage walks up- and downstream in one recursive SQL statement (SQLite and PostgreSQL).

The graph has runs and artifacts as nodes. Upstream edges: artifact → its creating run,
run → its input artifacts, run → the members of its input collections (the collection hop
is collapsed: members count as inputs), run → the run that initiated it. Downstream edges
are the reverse. Each recursive step is a single self-reference (PostgreSQL's rule) that
picks the edge kind with a small ``steps`` table, so every hop is an index lookup. ``UNION``
drops repeated ``(kind, id, depth)`` rows and depths saturate at ``DEPTH_CAP``, so walks end
on cyclic graphs too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Integer, String, and_, column, select, text

if TYPE_CHECKING:
    from .models import Artifact, Run

Direction = Literal["upstream", "downstream"]
DEPTH_CAP = 25_000
"""Distances saturate here, so a walk over a cycle (a flow reading its own task's output)
ends after at most this many rounds; nodes farther away are still found, at this depth."""

_UPSTREAM = """
WITH RECURSIVE steps(k) AS (VALUES (0), (1), (2), (3)),
walk(kind, id, depth) AS (
  SELECT :kind, :id, 0
  UNION
  SELECT
    CASE WHEN w.kind = 'artifact' THEN 'run' WHEN t.k IN (1, 3) THEN 'artifact' ELSE 'run' END,
    CASE WHEN w.kind = 'artifact' THEN a.run_id WHEN t.k = 1 THEN ria.artifact_id
         WHEN t.k = 3 THEN ca.artifact_id ELSE r.initiated_by_run_id END,
    CASE WHEN w.depth >= :cap THEN :cap ELSE w.depth + 1 END
  FROM walk w
  JOIN steps t ON (w.kind = 'artifact' AND t.k = 0) OR (w.kind = 'run' AND t.k IN (1, 2, 3))
  LEFT JOIN artifact a ON t.k = 0 AND a.id = w.id
  LEFT JOIN run_input_artifact ria ON t.k = 1 AND ria.run_id = w.id
  LEFT JOIN run r ON t.k = 2 AND r.id = w.id
  LEFT JOIN run_input_collection ric ON t.k = 3 AND ric.run_id = w.id
  LEFT JOIN collection_artifact ca ON t.k = 3 AND ca.collection_id = ric.collection_id
  WHERE w.depth < :max_depth
    AND (CASE WHEN w.kind = 'artifact' THEN a.run_id WHEN t.k = 1 THEN ria.artifact_id
              WHEN t.k = 3 THEN ca.artifact_id ELSE r.initiated_by_run_id END) IS NOT NULL
)
"""

_DOWNSTREAM = """
WITH RECURSIVE steps(k) AS (VALUES (0), (1), (2), (3)),
walk(kind, id, depth) AS (
  SELECT :kind, :id, 0
  UNION
  SELECT
    CASE WHEN w.kind = 'artifact' THEN 'run' WHEN t.k = 1 THEN 'artifact' ELSE 'run' END,
    CASE WHEN t.k = 0 THEN ria.run_id WHEN t.k = 1 THEN a.id WHEN t.k = 3 THEN ric.run_id
         ELSE r.id END,
    CASE WHEN w.depth >= :cap THEN :cap ELSE w.depth + 1 END
  FROM walk w
  JOIN steps t ON (w.kind = 'artifact' AND t.k IN (0, 3)) OR (w.kind = 'run' AND t.k IN (1, 2))
  LEFT JOIN run_input_artifact ria ON t.k = 0 AND ria.artifact_id = w.id
  LEFT JOIN artifact a ON t.k = 1 AND a.run_id = w.id
  LEFT JOIN run r ON t.k = 2 AND r.initiated_by_run_id = w.id
  LEFT JOIN collection_artifact ca ON t.k = 3 AND ca.artifact_id = w.id
  LEFT JOIN run_input_collection ric ON t.k = 3 AND ric.collection_id = ca.collection_id
  WHERE w.depth < :max_depth
    AND (CASE WHEN t.k = 0 THEN ria.run_id WHEN t.k = 1 THEN a.id WHEN t.k = 3 THEN ric.run_id
              ELSE r.id END) IS NOT NULL
)
"""

_NODES = "SELECT kind, id, MIN(depth) AS depth FROM walk GROUP BY kind, id"


@dataclass
class Lineage:
    """The result of a walk: runs and artifacts with their distance from the start."""

    start: tuple[str, int]
    direction: Direction
    runs: list[tuple[Run, int]] = field(default_factory=list)
    artifacts: list[tuple[Artifact, int]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.runs) + len(self.artifacts)

    @property
    def run_list(self) -> list[Run]:
        """The runs reached, nearest first."""
        return [r for r, _ in self.runs]

    @property
    def artifact_list(self) -> list[Artifact]:
        """The artifacts reached, nearest first."""
        return [a for a, _ in self.artifacts]

    def edges(self) -> list[tuple[tuple[str, int], tuple[str, int], str]]:
        """Edges among the nodes as ``(source, target, kind)`` in data-flow direction.

        Kinds: ``input`` (artifact → run), ``output`` (run → artifact) and ``initiated``
        (parent run → child run).
        """
        from .edges import edges_between

        return edges_between({r.id for r, _ in self.runs}, {a.id for a, _ in self.artifacts})

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description: nodes with depth, and edges."""
        from .edges import node_dict

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
    """Walk the lineage graph from a run or artifact (one SQL statement); start excluded."""
    from .instance import get_instance
    from .models import Artifact, Run

    sql = (_UPSTREAM if direction == "upstream" else _DOWNSTREAM) + _NODES
    nodes = (
        text(sql)
        .bindparams(kind=kind, id=node_id, cap=DEPTH_CAP,
                    max_depth=DEPTH_CAP + 1 if depth is None else depth)
        .columns(column("kind", String), column("id", Integer), column("depth", Integer))
        .subquery("nodes")
    )
    stmt = (
        select(nodes.c.depth, Run, Artifact)
        .select_from(nodes)
        .outerjoin(Run, and_(nodes.c.kind == "run", Run.id == nodes.c.id))
        .outerjoin(Artifact, and_(nodes.c.kind == "artifact", Artifact.id == nodes.c.id))
        .where(nodes.c.depth > 0)
        .order_by(nodes.c.depth, nodes.c.kind, nodes.c.id)
    )
    result = Lineage((kind, node_id), direction)
    with get_instance().read() as s:
        for d, run, artifact in s.execute(stmt):
            if run is not None:
                result.runs.append((run, d))
            elif artifact is not None:
                result.artifacts.append((artifact, d))
    return result

"""Lineage and summaries of collections.

Upstream of a collection: its creating run, its members and its meta artifact (depth 1),
then everything upstream of those. Downstream: the runs that read it (depth 1), then
everything downstream of them. Each hop beyond depth 1 is a ``lineage.walk`` from one of
those nodes, merged at the smallest depth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..artifact.artifact import Artifact
from ..artifact.describe import usage_and_versions
from ..db.enums import Branch
from ..db.record import saved_id
from ..lineage.edges import edges_between
from ..lineage.walk import Direction, Lineage, walk
from ..render import graph as render
from ..render.formats import render_graph
from ..run.run import Run
from .io import members

if TYPE_CHECKING:
    import os

    from .collection import Collection

Node = tuple[str, int]


@dataclass
class CollectionLineage(Lineage):
    """A ``Lineage`` that starts at a collection and knows its edges to that collection."""

    collection: Collection | None = None
    n_artifacts: int = 0
    collection_edges: list[tuple[Node, Node, str]] = field(default_factory=list)

    def edges(self) -> list[tuple[Node, Node, str]]:
        """Edges among runs and artifacts, plus ``member``/``meta``/``output``/``input``
        edges between the collection and its neighbours.
        """
        among = edges_between({r.id for r, _ in self.runs}, {a.id for a, _ in self.artifacts})
        return sorted(among + self.collection_edges)

    def to_dict(self) -> dict[str, Any]:
        """``Lineage.to_dict()`` with the collection as a node of kind ``collection``."""
        out = super().to_dict()
        coll = self.collection
        if coll is not None:
            out["nodes"].insert(0, {
                "id": f"collection:{coll.id}", "kind": "collection", "uid": coll.uid,
                "label": coll.key or coll.description or coll.uid, "hash": coll.hash,
                "n_artifacts": self.n_artifacts,
                "depth": 0,
            })
        return out


def collection_lineage(coll: Collection, direction: Direction,
                       depth: int | None = None) -> CollectionLineage:
    """Runs and artifacts up- or downstream of a saved collection."""
    cid = saved_id(coll)
    me: Node = ("collection", cid)
    arts = coll.ordered_artifacts.all()
    result = CollectionLineage(me, direction, collection=coll, n_artifacts=len(arts))
    if depth is not None and depth < 1:
        return result
    seeds: list[tuple[Run | Artifact, str]] = []
    if direction == "upstream":
        run = coll.run
        if run is not None:
            seeds.append((run, "output"))
        seeds.extend((a, "member") for a in arts)
        meta = coll.meta_artifact
        if meta is not None:
            seeds.append((meta, "meta"))
    else:
        seeds.extend((r, "input") for r in coll.input_of_runs.all())
    runs: dict[int, tuple[Run, int]] = {}
    artifacts: dict[int, tuple[Artifact, int]] = {}
    for record, kind in seeds:
        node = _node(record)
        edge = (me, node, kind) if direction == "downstream" else (node, me, kind)
        result.collection_edges.append(edge)
        _keep(runs, artifacts, record, 1)
        rest = None if depth is None else depth - 1
        if rest == 0:
            continue
        found = walk(node[0], node[1], direction, rest)
        result.transforms.update(found.transforms)
        for r, d in found.runs:
            _keep(runs, artifacts, r, d + 1)
        for a, d in found.artifacts:
            _keep(runs, artifacts, a, d + 1)
    result.runs = sorted(runs.values(), key=lambda item: (item[1], item[0].id))
    result.artifacts = sorted(artifacts.values(), key=lambda item: (item[1], item[0].id))
    return result


def _node(record: Any) -> Node:
    return ("run" if isinstance(record, Run) else "artifact", int(record.id))


def _keep(runs: dict[int, tuple[Run, int]], artifacts: dict[int, tuple[Artifact, int]],
          record: Any, depth: int) -> None:
    kind, rid = _node(record)
    table: dict[int, Any] = runs if kind == "run" else artifacts
    if rid not in table or table[rid][1] > depth:
        table[rid] = (record, depth)


def view_lineage(coll: Collection, format: str, path: str | os.PathLike[str] | None,
                 direction: Direction, depth: int | None) -> str:
    """The collection's lineage drawn with ``flowlineage.render`` (text, mermaid, dot,
    json, html); also written to ``path`` when given.
    """
    lineage = collection_lineage(coll, direction, depth)
    out = render_graph(_graph(lineage.to_dict()), format)
    if path is not None:
        Path(path).write_text(out, encoding="utf-8")
    return out


def _graph(data: dict[str, Any]) -> render.Graph:
    """A ``render.Graph`` of ``CollectionLineage.to_dict()``."""
    nodes: dict[str, render.Node] = {}
    for info in data["nodes"]:
        if info["kind"] == "run":
            detail = f"{info['orchestrator']} · {info['status']}"
        elif info["kind"] == "artifact":
            detail = render.human_size(info["size"])
        else:
            detail = f"{info['n_artifacts']} artifact(s)"
        nodes[info["id"]] = render.Node(info["id"], info["kind"], str(info["label"]), detail,
                                 info["depth"], info)
    edges = [(e["source"], e["target"], e["kind"]) for e in data["edges"]]
    start = data["start"]
    return render.Graph(f"{start['kind']}:{start['id']}", data["direction"], nodes, edges)


def describe_collection(coll: Collection) -> str:
    """Fields, members, meta artifact, run, inputs-of and versions of a collection, as text."""
    lines = [f"Collection {coll.key or coll.description or ''} (uid {coll.uid or 'unsaved'})"]
    for name in ("key", "description", "version", "hash", "reference", "reference_type",
                 "is_latest"):
        value = getattr(coll, name, None)
        if value is not None:
            lines.append(f"  {name}: {value}")
    if coll._branch_code != Branch.main:
        lines.append("  in trash")
    arts = members(coll)
    lines.append(f"  artifacts ({len(arts)}):")
    lines.extend(f"    {i}. {a.key or a.uid}  ({a.suffix or 'folder'}, {a.size} bytes)"
                 for i, a in enumerate(arts))
    meta = coll.meta_artifact
    if meta is not None:
        lines.append(f"  meta artifact: {meta.key or meta.uid}")
    if coll.id is not None:
        run = coll.run
        if run is not None:
            tf = run.transform
            lines.append(f"  run: {run.uid} of {tf.type} {tf.key} ({run.status})")
        lines.extend(usage_and_versions(coll))
    return "\n".join(lines)

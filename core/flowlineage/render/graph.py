"""The graph model of a lineage picture: nodes with display text, edges, and colours."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..db import tables
from ..db.record import entity
from ..lineage.edges import node_dicts
from ..lineage.walk import Lineage
from ..plugins import orchestrator_colors

ARTIFACT_COLORS = ("#f8fafc", "#475569")
COLLECTION_COLORS = ("#fff7ed", "#c2410c")
STATUS_STROKES = {"errored": "#dc2626", "aborted": "#ea580c"}
EDGE_COLOR, INITIATED_COLOR = "#64748b", "#94a3b8"
MAX_LABEL = 42


# ---------------------------------------------------------------- the graph to draw


@dataclass
class Node:
    """A run or artifact to draw: its JSON description plus display text."""

    id: str
    kind: str
    label: str
    detail: str
    depth: int
    info: dict[str, Any]

    @property
    def orchestrator(self) -> str:
        """The orchestrator of a run (``python`` for plain scripts); empty for artifacts."""
        return str(self.info.get("orchestrator") or "")

    @property
    def status(self) -> str:
        """The status of a run; empty for artifacts."""
        return str(self.info.get("status") or "")

    @property
    def tooltip(self) -> str:
        """A few lines describing the node (shown on hover in HTML)."""
        keys = ("uid", "status", "reference_type", "reference", "transform_type", "hash", "size")
        lines = [f"{self.kind} {self.label}"]
        lines += [f"{k}: {self.info[k]}" for k in keys if self.info.get(k) is not None]
        return "\n".join(lines)


@dataclass
class Graph:
    """Nodes (start included, depth 0) and data-flow edges ``(source, target, kind)``."""

    start: str
    direction: str
    nodes: dict[str, Node]
    edges: list[tuple[str, str, str]]

    @property
    def title(self) -> str:
        """E.g. ``upstream lineage of artifact clean/counts.parquet``."""
        node = self.nodes[self.start]
        return f"{self.direction} lineage of {node.kind} {node.label}"

    @property
    def summary(self) -> str:
        """Counts of runs, artifacts and edges, the start node excluded from the counts."""
        runs = sum(1 for n in self.nodes.values() if n.kind == "run" and n.depth > 0)
        arts = sum(1 for n in self.nodes.values() if n.kind == "artifact" and n.depth > 0)
        return f"{runs} run(s), {arts} artifact(s), {len(self.edges)} edge(s)"


def build_graph(lineage: Lineage) -> Graph:
    """The start record and every node of a walk, with the edges among them (no statement
    beyond the walk's own)."""
    kind, start_id = lineage.start
    start = lineage.start_record
    if start is None:  # deleted since: DoesNotExist
        start = entity(tables.run if kind == "run" else tables.artifact).get(start_id)
    records: list[tuple[Any, int]] = [(start, 0), *lineage.runs, *lineage.artifacts]
    nodes: dict[str, Node] = {}
    for info in node_dicts(records, lineage.transforms):
        depth = info["depth"]
        if info["kind"] == "run":
            detail = f"{info['orchestrator']} · {info['status']}"
        else:
            detail = human_size(info["size"]) if info["size"] is not None else ""
        nodes[info["id"]] = Node(info["id"], info["kind"], str(info["label"]), detail, depth,
                                 info)
    edges = [(f"{s[0]}:{s[1]}", f"{t[0]}:{t[1]}", k) for s, t, k in lineage.all_edges]
    return Graph(f"{kind}:{start_id}", lineage.direction, nodes, edges)


def human_size(size: int | None) -> str:
    """A byte count for people: ``532 B``, ``1.2 kB``, ``3.4 MB``."""
    if size is None:
        return ""
    if size < 1000:
        return f"{size} B"
    value = float(size)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        if value < 999.95:  # would not round up to 1000.0
            return f"{value:.1f} {unit}"
    return f"{value / 1000:.1f} TB"


def short(label: str) -> str:
    """A label cut to ``MAX_LABEL`` characters."""
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def node_colors(node: Node) -> tuple[str, str]:
    """Fill and stroke of a node: runs by orchestrator (stroke by failed status), artifacts grey."""
    if node.kind != "run":
        return ARTIFACT_COLORS
    colors = orchestrator_colors()
    fill, stroke = colors.get(node.orchestrator, colors["python"])
    return fill, STATUS_STROKES.get(node.status, stroke)

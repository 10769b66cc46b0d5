"""Pictures of lineage: a text tree, Mermaid, Graphviz DOT, JSON and one self-contained HTML page.

``render(lineage, format)`` draws a walk (``artifact.upstream()``, ``run.downstream()``, ...)
including its start node. The HTML page embeds an SVG laid out by Graphviz ``dot`` when the
binary is installed, else by the small layered layout below (longest-path layers, dummy
nodes on long edges, barycenter ordering against crossings, then aligned positions). It
loads nothing from the network.
"""

from __future__ import annotations

import html
import json
import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from .errors import ValidationError

if TYPE_CHECKING:
    import os

    from .lineage import Lineage
    from .models import Artifact, Run

Format = Literal["text", "mermaid", "dot", "json", "html"]
FORMATS: tuple[str, ...] = get_args(Format)
HtmlLayout = Literal["auto", "dot", "builtin"]

ORCHESTRATOR_COLORS = {  # fill, stroke
    "prefect": ("#dbeafe", "#1d4ed8"),
    "snakemake": ("#dcfce7", "#15803d"),
    "nextflow": ("#ede9fe", "#6d28d9"),
    "python": ("#fef3c7", "#b45309"),
}
ARTIFACT_COLORS = ("#f8fafc", "#475569")
STATUS_STROKES = {"errored": "#dc2626", "aborted": "#ea580c"}
EDGE_COLOR, INITIATED_COLOR = "#64748b", "#94a3b8"
MAX_LABEL = 42
DOT_TIMEOUT_SECONDS = 60
logger = logging.getLogger("flowlineage.render")


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
    """The start record and every node of a walk, with the edges among them."""
    from .edges import edges_between, node_dict
    from .models import Artifact, Run
    from .query import MAIN, TRASH

    kind, start_id = lineage.start
    start: Run | Artifact
    if kind == "run":
        start = Run.get(start_id)
    else:
        start = Artifact.filter(id=start_id, _branch_code__in=[MAIN, TRASH]).one()
    records: list[tuple[Run | Artifact, int]] = [(start, 0), *lineage.runs, *lineage.artifacts]
    nodes: dict[str, Node] = {}
    for record, depth in records:
        info = node_dict(record, depth)
        if info["kind"] == "run":
            detail = f"{info['orchestrator']} · {info['status']}"
        else:
            detail = human_size(info["size"]) if info["size"] is not None else ""
        nodes[info["id"]] = Node(info["id"], info["kind"], str(info["label"]), detail, depth,
                                 info)
    run_ids = {int(n.split(":")[1]) for n in nodes if n.startswith("run:")}
    art_ids = {int(n.split(":")[1]) for n in nodes if n.startswith("artifact:")}
    edges = [(f"{s[0]}:{s[1]}", f"{t[0]}:{t[1]}", k)
             for s, t, k in edges_between(run_ids, art_ids)]
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


# ---------------------------------------------------------------- entry points


def render(lineage: Lineage, format: str = "text", *, html_layout: HtmlLayout = "auto") -> str:
    """Draw a lineage walk as ``text``, ``mermaid``, ``dot``, ``json`` or ``html``.

    ``html_layout`` picks the HTML layout: ``dot`` (Graphviz, must be installed),
    ``builtin`` (pure Python) or ``auto`` (Graphviz when installed, else builtin).
    """
    return render_graph(build_graph(lineage), format, html_layout)


def render_graph(graph: Graph, format: str = "text", html_layout: HtmlLayout = "auto") -> str:
    """Draw a built graph (e.g. a collection's lineage) in one of ``FORMATS``."""
    if format not in FORMATS:
        raise ValidationError(f"unknown lineage format {format!r}; use one of "
                              f"{', '.join(FORMATS)}")
    if format == "text":
        return to_text(graph)
    if format == "mermaid":
        return to_mermaid(graph)
    if format == "dot":
        return to_dot(graph)
    if format == "json":
        return json.dumps(to_dict(graph), indent=2, default=str) + "\n"
    return to_html(graph, html_layout)


def view_lineage(
    record: Run | Artifact,
    format: str = "text",
    path: str | os.PathLike[str] | None = None,
    direction: str = "upstream",
    depth: int | None = None,
) -> str:
    """Render the lineage of a run or artifact; also write it to ``path`` when given."""
    if direction == "upstream":
        lineage = record.upstream(depth)
    elif direction == "downstream":
        lineage = record.downstream(depth)
    else:
        raise ValidationError(f"direction must be 'upstream' or 'downstream', not {direction!r}")
    out = render(lineage, format)
    if path is not None:
        Path(path).write_text(out, encoding="utf-8")
    return out


# ---------------------------------------------------------------- json and text


def to_dict(graph: Graph) -> dict[str, Any]:
    """``Lineage.to_dict()``'s shape, with the start node (depth 0) and its edges included."""
    kind, start_id = graph.start.split(":")
    return {
        "start": {"kind": kind, "id": int(start_id)},
        "direction": graph.direction,
        "nodes": [n.info for n in graph.nodes.values()],
        "edges": [{"source": s, "target": t, "kind": k} for s, t, k in graph.edges],
    }


_RELATIONS = {  # (walk direction, edge kind, walking along the edge?) -> how the child relates
    ("upstream", "output"): "created by",
    ("upstream", "input"): "input",
    ("upstream", "member"): "member",
    ("upstream", "meta"): "meta artifact",
    ("upstream", "initiated"): "initiated by",
    ("downstream", "input"): "input of",
    ("downstream", "output"): "output",
    ("downstream", "initiated"): "initiated",
}


def to_text(graph: Graph) -> str:
    """A tree from the start node, following the walk's direction; repeats are referenced."""
    children: dict[str, list[tuple[str, str]]] = {n: [] for n in graph.nodes}
    for src, dst, kind in graph.edges:
        parent, child = (dst, src) if graph.direction == "upstream" else (src, dst)
        children[parent].append((child, _RELATIONS[(graph.direction, kind)]))
    lines = [f"{graph.title} ({graph.summary})", _text_node(graph.nodes[graph.start])]
    seen = {graph.start}

    def walk(node_id: str, prefix: str) -> None:
        kids = sorted(children[node_id], key=lambda c: (graph.nodes[c[0]].kind,
                                                        graph.nodes[c[0]].label, c[0]))
        for i, (child, relation) in enumerate(kids):
            last = i == len(kids) - 1
            branch, indent = ("└── ", "    ") if last else ("├── ", "│   ")
            node = graph.nodes[child]
            if child in seen:
                lines.append(f"{prefix}{branch}{relation}: {node.kind} {node.label} (see above)")
                continue
            seen.add(child)
            lines.append(f"{prefix}{branch}{relation}: {_text_node(node)}")
            walk(child, prefix + indent)

    walk(graph.start, "")
    rest = [n for n in graph.nodes.values() if n.id not in seen]
    if rest:
        lines.append("not reached through the tree:")
        lines += [f"  {_text_node(n)}" for n in rest]
    return "\n".join(lines) + "\n"


def _text_node(node: Node) -> str:
    extra = [node.detail] if node.detail else []
    return f"{node.kind} {node.label}  [{' · '.join([*extra, node.info['uid']])}]"


# ---------------------------------------------------------------- mermaid and dot


def _short(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


def _mermaid_text(text: str) -> str:
    return (text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;")
            .replace(">", "#gt;"))


def to_mermaid(graph: Graph) -> str:
    """A Mermaid ``flowchart LR``: runs as boxes coloured per orchestrator, artifacts rounded."""
    def mid(node_id: str) -> str:
        return node_id.replace(":", "_")

    lines = ["flowchart LR"]
    classes: dict[str, list[str]] = {}
    for node in graph.nodes.values():
        text = _mermaid_text(_short(node.label))
        if node.detail:
            text += "<br/>" + _mermaid_text(node.detail)
        if node.kind == "run":
            lines.append(f'    {mid(node.id)}["{text}"]')
            classes.setdefault(node.orchestrator, []).append(mid(node.id))
            if node.status in STATUS_STROKES:
                classes.setdefault(node.status, []).append(mid(node.id))
        else:
            lines.append(f'    {mid(node.id)}(["{text}"])')
            classes.setdefault("artifact", []).append(mid(node.id))
    for src, dst, kind in graph.edges:
        arrow = "-.->" if kind == "initiated" else "-->"
        lines.append(f"    {mid(src)} {arrow} {mid(dst)}")
    styles = {name: f"fill:{fill},stroke:{stroke},color:#0f172a"
              for name, (fill, stroke) in ORCHESTRATOR_COLORS.items()}
    styles["artifact"] = f"fill:{ARTIFACT_COLORS[0]},stroke:{ARTIFACT_COLORS[1]},color:#0f172a"
    styles.update({s: f"stroke:{c},stroke-width:2px" for s, c in STATUS_STROKES.items()})
    styles["start"] = "stroke-width:3px"
    classes["start"] = [mid(graph.start)]
    for name, members in classes.items():
        lines.append(f"    classDef {name} {styles[name]}")
        lines.append(f"    class {','.join(members)} {name}")
    return "\n".join(lines) + "\n"


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def to_dot(graph: Graph) -> str:
    """Graphviz source (``dot -Tsvg``): left to right, runs boxed, artifacts rounded."""
    lines = [
        "digraph lineage {",
        "  rankdir=LR;",
        '  graph [fontname="Helvetica,Arial,sans-serif", nodesep=0.25, ranksep=0.6];',
        '  node [fontname="Helvetica,Arial,sans-serif", fontsize=11, penwidth=1.2];',
        f'  edge [color="{EDGE_COLOR}", arrowsize=0.7];',
    ]
    for node in graph.nodes.values():
        label = _short(node.label) + (f"\n{node.detail}" if node.detail else "")
        if node.kind == "run":
            fill, stroke = ORCHESTRATOR_COLORS.get(node.orchestrator, ORCHESTRATOR_COLORS["python"])
            stroke = STATUS_STROKES.get(node.status, stroke)
            shape = 'shape=box, style="filled"'
        else:
            fill, stroke = ARTIFACT_COLORS
            shape = 'shape=box, style="rounded,filled"'
        width = ", penwidth=3" if node.id == graph.start else ""
        lines.append(f'  "{node.id}" [{shape}, fillcolor="{fill}", color="{stroke}"{width}, '
                     f'label="{_dot_text(label)}", tooltip="{_dot_text(node.tooltip)}"];')
    for src, dst, kind in graph.edges:
        style = f' [style=dashed, color="{INITIATED_COLOR}"]' if kind == "initiated" else ""
        lines.append(f'  "{src}" -> "{dst}"{style};')
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- html


def to_html(graph: Graph, layout: HtmlLayout = "auto") -> str:
    """One self-contained HTML page (no scripts, no network) with an SVG of the graph."""
    svg = None
    if layout in ("auto", "dot"):
        svg = dot_svg(to_dot(graph))
        if svg is None and layout == "dot":
            raise ValidationError("the Graphviz 'dot' program is not installed or failed; "
                                  "use the builtin layout")
    if svg is None:
        svg = builtin_svg(graph)
    legend = [(name, fill, stroke) for name, (fill, stroke) in ORCHESTRATOR_COLORS.items()
              if any(n.orchestrator == name for n in graph.nodes.values())]
    items = "".join(
        f'<li><span class="swatch" style="background:{fill};border-color:{stroke}"></span>'
        f"{html.escape(name)} run</li>" for name, fill, stroke in legend)
    items += (f'<li><span class="swatch pill" style="background:{ARTIFACT_COLORS[0]};'
              f'border-color:{ARTIFACT_COLORS[1]}"></span>artifact</li>'
              '<li><span class="dash"></span>initiated by</li>')
    title = html.escape(graph.title)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="generator" content="flowlineage">
<title>{title}</title>
<style>
body {{ margin: 0; font-family: Helvetica, Arial, sans-serif; color: #0f172a; background: #fff; }}
header {{ padding: 12px 20px; border-bottom: 1px solid #e2e8f0; }}
h1 {{ font-size: 18px; margin: 0 0 4px; }}
p {{ margin: 0 0 6px; color: #475569; font-size: 13px; }}
ul.legend {{ list-style: none; margin: 0; padding: 0; display: flex; gap: 16px; font-size: 12px; }}
.swatch {{ display: inline-block; width: 14px; height: 10px; border: 1.5px solid;
  margin-right: 5px; vertical-align: middle; }}
.swatch.pill {{ border-radius: 6px; }}
.dash {{ display: inline-block; width: 22px; border-top: 2px dashed {INITIATED_COLOR};
  margin-right: 5px; vertical-align: middle; }}
main {{ padding: 12px; overflow: auto; }}
svg text {{ font-family: Helvetica, Arial, sans-serif; }}
</style>
</head>
<body>
<header>
<h1>{title}</h1>
<p>{html.escape(graph.summary)}</p>
<ul class="legend">{items}</ul>
</header>
<main>
{svg}
</main>
</body>
</html>
"""


def dot_svg(source: str) -> str | None:
    """SVG drawn by Graphviz ``dot`` (prolog stripped), or None when it is missing or fails."""
    exe = shutil.which("dot")
    if exe is None:
        return None
    try:
        proc = subprocess.run([exe, "-Tsvg"], input=source.encode(), capture_output=True,
                              timeout=DOT_TIMEOUT_SECONDS, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        logger.warning("graphviz dot failed (%s); using the builtin layout", e)
        return None
    if proc.returncode != 0:
        logger.warning("graphviz dot failed: %s; using the builtin layout",
                       proc.stderr.decode(errors="replace").strip())
        return None
    out = proc.stdout.decode("utf-8", errors="replace")
    start = out.find("<svg")
    return out[start:] if start >= 0 else None


# ---------------------------------------------------------------- builtin layered layout

_NODE_H2, _NODE_H1 = 40.0, 28.0  # two-line and one-line boxes
_GAP_NODES, _GAP_DUMMY = 14.0, 6.0
_LAYER_GAP, _MARGIN = 70.0, 20.0
_CHAR_W, _CHAR_W_SMALL = 7.0, 6.0
_ORDER_SWEEPS, _PLACE_SWEEPS = 12, 6


@dataclass
class Layout:
    """Positions from ``layered_layout``: box centres/sizes, edge polylines, canvas size."""

    boxes: dict[str, tuple[float, float, float, float]]  # node id -> (cx, cy, w, h)
    paths: list[tuple[str, str, bool]]  # (svg path data, edge kind, drawn against the path)
    width: float
    height: float
    layers: list[list[str]]  # real and dummy node ids per layer, in drawing order


def _box_size(node: Node) -> tuple[float, float]:
    width = max(len(_short(node.label)) * _CHAR_W, len(node.detail) * _CHAR_W_SMALL) + 24
    return max(width, 80.0), _NODE_H2 if node.detail else _NODE_H1


def layered_layout(graph: Graph) -> Layout:
    """A left-to-right layered layout of the graph (Sugiyama-style, simplified)."""
    ids = sorted(graph.nodes, key=lambda n: (graph.nodes[n].depth, n))
    pairs = list(dict.fromkeys((s, d, k) for s, d, k in graph.edges if s != d))
    dag = _acyclic(ids, pairs)
    layer = _layers(ids, dag)
    # long edges become chains through one dummy node per crossed layer
    chains: list[tuple[list[str], str, bool]] = []
    for index, ((a, b, reversed_), (_, _, kind)) in enumerate(zip(dag, pairs, strict=True)):
        dummies = [f"~{index}.{k}" for k in range(layer[a] + 1, layer[b])]
        for k, dummy in enumerate(dummies):
            layer[dummy] = layer[a] + 1 + k
        chains.append(([a, *dummies, b], kind, reversed_))
    n_layers = max(layer.values(), default=0) + 1
    up: dict[str, list[str]] = {v: [] for v in layer}
    down: dict[str, list[str]] = {v: [] for v in layer}
    for chain, _, _ in chains:
        for u, v in zip(chain, chain[1:], strict=False):
            down[u].append(v)
            up[v].append(u)
    layers = _order(ids, layer, n_layers, up, down)
    sizes = {v: _box_size(graph.nodes[v]) if v in graph.nodes else (0.0, 0.0) for v in layer}
    ys = _place(layers, sizes, up, down)
    widths = [max((sizes[v][0] for v in lay), default=0.0) or 20.0 for lay in layers]
    lefts = [_MARGIN + sum(widths[:i]) + _LAYER_GAP * i for i in range(n_layers)]
    boxes = {v: (lefts[layer[v]] + widths[layer[v]] / 2, ys[v], *sizes[v]) for v in graph.nodes}
    paths = []
    for chain, kind, reversed_ in chains:
        points = []  # (column left, column right, box left, box right, y) per chain node
        for v in chain:
            i = layer[v]
            left, right = lefts[i], lefts[i] + widths[i]
            if v in graph.nodes:
                cx, cy, w, _ = boxes[v]
                points.append((left, right, cx - w / 2, cx + w / 2, cy))
            else:
                points.append((left, right, left, right, ys[v]))
        paths.append((_edge_path(points), kind, reversed_))
    width = lefts[-1] + widths[-1] + _MARGIN if layers else 2 * _MARGIN
    height = max((ys[v] + sizes[v][1] / 2 for v in layer), default=0.0) + _MARGIN
    return Layout(boxes, paths, width, height, layers)


def _acyclic(ids: list[str], edges: list[tuple[str, str, str]]) -> list[tuple[str, str, bool]]:
    """Each edge oriented for layering; edges closing a cycle (found by DFS) are reversed."""
    succ: dict[str, list[str]] = {v: [] for v in ids}
    for s, d, _ in edges:
        succ[s].append(d)
    state: dict[str, int] = {}
    back: set[tuple[str, str]] = set()
    for root in ids:
        if root in state:
            continue
        state[root] = 1
        stack = [(root, iter(succ[root]))]
        while stack:
            v, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[v] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                back.add((v, nxt))
            elif nxt not in state:
                state[nxt] = 1
                stack.append((nxt, iter(succ[nxt])))
    return [(d, s, True) if (s, d) in back else (s, d, False) for s, d, _ in edges]


def _layers(ids: list[str], dag: list[tuple[str, str, bool]]) -> dict[str, int]:
    """Longest-path layers; sources then move right, next to their nearest consumer."""
    succ: dict[str, list[str]] = {v: [] for v in ids}
    indeg = dict.fromkeys(ids, 0)
    for a, b, _ in dag:
        succ[a].append(b)
        indeg[b] += 1
    layer = dict.fromkeys(ids, 0)
    queue = [v for v in ids if indeg[v] == 0]
    for v in queue:  # Kahn's algorithm; the queue grows while we iterate
        for w in succ[v]:
            layer[w] = max(layer[w], layer[v] + 1)
            indeg[w] -= 1
            if indeg[w] == 0:
                queue.append(w)
    has_pred = {b for _, b, _ in dag}
    for v in ids:
        if v not in has_pred and succ[v]:
            layer[v] = min(layer[w] for w in succ[v]) - 1
    return layer


def _order(ids: list[str], layer: dict[str, int], n_layers: int, up: dict[str, list[str]],
           down: dict[str, list[str]]) -> list[list[str]]:
    """Order each layer by barycenter sweeps, keeping the ordering with fewest crossings."""
    # a depth-first preorder from the leftmost nodes keeps related nodes together to begin with
    rank: dict[str, float] = {}
    first = {v: i for i, v in enumerate(ids)}
    for v in sorted(ids, key=lambda x: (layer[x], first[x])):
        if v in rank:
            continue
        stack = [v]
        while stack:
            u = stack.pop()
            if u in rank:
                continue
            rank[u] = len(rank)
            stack.extend(reversed(down[u]))
    layers: list[list[str]] = [[] for _ in range(n_layers)]
    for v in sorted(layer, key=lambda x: rank.get(x, 0.0)):
        layers[layer[v]].append(v)
    best, best_count = [list(lay) for lay in layers], _crossings(layers, down)
    for _ in range(_ORDER_SWEEPS):
        if best_count == 0:
            break
        for i in range(1, n_layers):
            _barycenter(layers[i], up, layers[i - 1])
        for i in range(n_layers - 2, -1, -1):
            _barycenter(layers[i], down, layers[i + 1])
        count = _crossings(layers, down)
        if count < best_count:
            best, best_count = [list(lay) for lay in layers], count
    return best


def _barycenter(row: list[str], neighbours: dict[str, list[str]], fixed: list[str]) -> None:
    pos = {v: i for i, v in enumerate(fixed)}
    keys = {}
    for i, v in enumerate(row):
        near = [pos[u] for u in neighbours[v] if u in pos]
        keys[v] = sum(near) / len(near) if near else float(i)
    row.sort(key=lambda v: keys[v])


def _crossings(layers: list[list[str]], down: dict[str, list[str]]) -> int:
    """Edge crossings between consecutive layers (inversions among segment endpoints)."""
    import bisect

    total = 0
    for upper, lower in zip(layers, layers[1:], strict=False):
        pos = {v: i for i, v in enumerate(lower)}
        ends = sorted((i, pos[w]) for i, v in enumerate(upper) for w in down[v] if w in pos)
        seen: list[int] = []
        for _, b in ends:
            total += len(seen) - bisect.bisect_right(seen, b)
            bisect.insort(seen, b)
    return total


def _place(layers: list[list[str]], sizes: dict[str, tuple[float, float]],
           up: dict[str, list[str]], down: dict[str, list[str]]) -> dict[str, float]:
    """Vertical centres: each node pulled towards its neighbours, order and spacing kept."""
    ys: dict[str, float] = {}
    for lay in layers:
        y = _MARGIN
        for k, v in enumerate(lay):
            if k:
                y += _sep(sizes, lay[k - 1], v)
            else:
                y += sizes[v][1] / 2
            ys[v] = y
    for sweep in range(_PLACE_SWEEPS):
        order = range(1, len(layers)) if sweep % 2 == 0 else range(len(layers) - 2, -1, -1)
        for i in order:
            near = up if sweep % 2 == 0 else down
            wanted = {v: (sum(ys[u] for u in near[v]) / len(near[v]) if near[v] else ys[v])
                      for v in layers[i]}
            _isotonic(layers[i], wanted, sizes, ys)
    top = min((ys[v] - sizes[v][1] / 2 for v in ys), default=_MARGIN)
    return {v: y - top + _MARGIN for v, y in ys.items()}


def _sep(sizes: dict[str, tuple[float, float]], a: str, b: str) -> float:
    gap = _GAP_DUMMY if sizes[a][0] == 0 or sizes[b][0] == 0 else _GAP_NODES
    return (sizes[a][1] + sizes[b][1]) / 2 + gap


def _isotonic(row: list[str], wanted: dict[str, float], sizes: dict[str, tuple[float, float]],
              ys: dict[str, float]) -> None:
    """Least-squares positions closest to ``wanted`` keeping order and minimum spacing."""
    offsets = [0.0]
    for a, b in zip(row, row[1:], strict=False):
        offsets.append(offsets[-1] + _sep(sizes, a, b))
    blocks: list[list[float]] = []  # [sum of targets, count] per pooled block
    for v, off in zip(row, offsets, strict=True):
        blocks.append([wanted[v] - off, 1.0])
        while len(blocks) > 1 and blocks[-2][0] / blocks[-2][1] > blocks[-1][0] / blocks[-1][1]:
            total, count = blocks.pop()
            blocks[-1][0] += total
            blocks[-1][1] += count
    k = 0
    for total, count in blocks:
        for _ in range(int(count)):
            ys[row[k]] = total / count + offsets[k]
            k += 1


def _edge_path(points: list[tuple[float, float, float, float, float]]) -> str:
    """Straight through each layer's column, a smooth curve across each gap between layers."""
    _, right, _, box_right, y = points[0]
    d = [f"M{box_right:.1f},{y:.1f}", f"L{right:.1f},{y:.1f}"]
    for k, (left, right2, box_left, _, y2) in enumerate(points[1:], start=1):
        mid = (right + left) / 2
        d.append(f"C{mid:.1f},{y:.1f} {mid:.1f},{y2:.1f} {left:.1f},{y2:.1f}")
        if k == len(points) - 1:
            d.append(f"L{box_left:.1f},{y2:.1f}")
        else:
            d.append(f"L{right2:.1f},{y2:.1f}")
        right, y = right2, y2
    return " ".join(d)


def builtin_svg(graph: Graph) -> str:
    """The graph as an SVG laid out by ``layered_layout``."""
    lay = layered_layout(graph)
    esc = html.escape
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{lay.width:.0f}" '
        f'height="{lay.height:.0f}" viewBox="0 0 {lay.width:.0f} {lay.height:.0f}" '
        f'role="img" aria-label="{esc(graph.title)}">',
        "<defs>",
        f'<marker id="fl-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
        f'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" '
        f'fill="{EDGE_COLOR}"/></marker>',
        f'<marker id="fl-arrow-initiated" viewBox="0 0 10 10" refX="10" refY="5" '
        f'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{INITIATED_COLOR}"/></marker>',
        "</defs>",
        '<g class="edges" fill="none">',
    ]
    for d, kind, reversed_ in lay.paths:
        initiated = kind == "initiated"
        marker = "url(#fl-arrow-initiated)" if initiated else "url(#fl-arrow)"
        end = "marker-start" if reversed_ else "marker-end"
        dash = ' stroke-dasharray="6 4"' if initiated else ""
        color = INITIATED_COLOR if initiated else EDGE_COLOR
        out.append(f'<path class="edge {kind}" d="{d}" stroke="{color}" stroke-width="1.4"'
                   f'{dash} {end}="{marker}"/>')
    out.append("</g>")
    out.append('<g class="nodes">')
    for node_id, (cx, cy, w, h) in lay.boxes.items():
        node = graph.nodes[node_id]
        if node.kind == "run":
            fill, stroke = ORCHESTRATOR_COLORS.get(node.orchestrator, ORCHESTRATOR_COLORS["python"])
            stroke = STATUS_STROKES.get(node.status, stroke)
            radius = 3.0
        else:
            (fill, stroke), radius = ARTIFACT_COLORS, h / 2
        width = 3.0 if node_id == graph.start else 1.4
        x, y = cx - w / 2, cy - h / 2
        classes = f"node {node.kind} {node.orchestrator} {node.status}".strip()
        out.append(f'<g class="{esc(classes)}" data-id="{node_id}">'
                   f"<title>{esc(node.tooltip)}</title>"
                   f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
                   f'rx="{radius:.1f}" fill="{fill}" stroke="{stroke}" stroke-width="{width}"/>')
        if node.detail:
            out.append(f'<text x="{cx:.1f}" y="{cy - 3:.1f}" text-anchor="middle" '
                       f'font-size="12" font-weight="bold" fill="#0f172a">'
                       f"{esc(_short(node.label))}</text>"
                       f'<text x="{cx:.1f}" y="{cy + 12:.1f}" text-anchor="middle" '
                       f'font-size="10" fill="#475569">{esc(node.detail)}</text></g>')
        else:
            out.append(f'<text x="{cx:.1f}" y="{cy + 4:.1f}" text-anchor="middle" '
                       f'font-size="12" font-weight="bold" fill="#0f172a">'
                       f"{esc(_short(node.label))}</text></g>")
    out.append("</g></svg>")
    return "\n".join(out)

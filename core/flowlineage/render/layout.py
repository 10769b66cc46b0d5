"""A small layered layout for SVG pictures when Graphviz is not installed: longest-path
layers, dummy nodes on long edges, barycenter ordering against crossings, aligned positions."""

from __future__ import annotations

import html
from dataclasses import dataclass

from .graph import EDGE_COLOR, INITIATED_COLOR, Graph, Node, node_colors, short

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
    width = max(len(short(node.label)) * _CHAR_W, len(node.detail) * _CHAR_W_SMALL) + 24
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
        fill, stroke = node_colors(node)
        radius = 3.0 if node.kind == "run" else h / 2
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
                       f"{esc(short(node.label))}</text>"
                       f'<text x="{cx:.1f}" y="{cy + 12:.1f}" text-anchor="middle" '
                       f'font-size="10" fill="#475569">{esc(node.detail)}</text></g>')
        else:
            out.append(f'<text x="{cx:.1f}" y="{cy + 4:.1f}" text-anchor="middle" '
                       f'font-size="12" font-weight="bold" fill="#0f172a">'
                       f"{esc(short(node.label))}</text></g>")
    out.append("</g></svg>")
    return "\n".join(out)

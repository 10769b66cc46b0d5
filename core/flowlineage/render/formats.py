"""Pictures of lineage: a text tree, Mermaid, Graphviz DOT, JSON and one self-contained HTML page.

``render(lineage, format)`` draws a walk (``artifact.upstream()``, ``run.downstream()``, ...)
including its start node. The HTML page is the interactive viewer of ``flowlineage ui``
(``viewer``) with its scripts inlined; it loads nothing from the network.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from ..errors import ValidationError
from ..lineage.walk import Lineage
from ..plugins import orchestrator_colors
from .graph import (
    ARTIFACT_COLORS,
    EDGE_COLOR,
    INITIATED_COLOR,
    STATUS_STROKES,
    Graph,
    Node,
    build_graph,
    node_colors,
    short,
)
from .viewer import render_html

if TYPE_CHECKING:
    import os

Format = Literal["text", "mermaid", "dot", "json", "html"]
FORMATS: tuple[str, ...] = get_args(Format)


# ---------------------------------------------------------------- entry points


def render(lineage: Lineage, format: str = "text") -> str:
    """Draw a lineage walk as ``text``, ``mermaid``, ``dot``, ``json`` or ``html``."""
    return render_graph(build_graph(lineage), format)


def render_graph(graph: Graph, format: str = "text") -> str:
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
    return to_html(graph)


def view_lineage(
    record: Any,
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
    ("upstream", "result"): "used the result of",
    ("downstream", "input"): "input of",
    ("downstream", "output"): "output",
    ("downstream", "initiated"): "initiated",
    ("downstream", "result"): "result used by",
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
        text = _mermaid_text(short(node.label))
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
        arrow = {"initiated": "-.->", "result": "-- result -->"}.get(kind, "-->")
        lines.append(f"    {mid(src)} {arrow} {mid(dst)}")
    styles = {name: f"fill:{fill},stroke:{stroke},color:#0f172a"
              for name, (fill, stroke) in orchestrator_colors().items()}
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
        label = short(node.label) + (f"\n{node.detail}" if node.detail else "")
        if node.kind == "run":
            shape = 'shape=box, style="filled"'
        else:
            shape = 'shape=box, style="rounded,filled"'
        fill, stroke = node_colors(node)
        width = ", penwidth=3" if node.id == graph.start else ""
        lines.append(f'  "{node.id}" [{shape}, fillcolor="{fill}", color="{stroke}"{width}, '
                     f'label="{_dot_text(label)}", tooltip="{_dot_text(node.tooltip)}"];')
    for src, dst, kind in graph.edges:
        style = {"initiated": f' [style=dashed, color="{INITIATED_COLOR}"]',
                 "result": ' [style=bold, label="result", fontsize=9]'}.get(kind, "")
        lines.append(f'  "{src}" -> "{dst}"{style};')
    lines.append("}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- html


def to_html(graph: Graph) -> str:
    """The interactive viewer of ``flowlineage ui`` as one self-contained HTML page."""
    return render_html(to_dict(graph))

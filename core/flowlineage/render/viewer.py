"""The interactive lineage viewer (``static/graph.js`` on vendored cytoscape.js + dagre): the
markup every page embeds, the palette it draws with, and one self-contained HTML page.

The ``ui`` serves ``static/`` for its pages; ``render_html`` inlines the same files, so
``lineage --format html`` writes the web app's viewer as one file that loads nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from functools import cache
from html import escape
from importlib.resources import files
from typing import Any

from ..plugins import PYTHON, UNKNOWN_COLOR, orchestrator_colors
from .graph import ARTIFACT_COLORS, COLLECTION_COLORS, STATUS_STROKES

SCRIPTS = ("vendor/cytoscape.min.js", "vendor/cytoscape-dagre.min.js", "graph.js")
STYLESHEET = "viewer.css"
_CSS_COLOR = re.compile(r"#[0-9a-fA-F]{3,8}|[a-zA-Z]{3,20}")
_SCRIPT_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026",
                   0x2028: "\\u2028", 0x2029: "\\u2029"}

VIEWER = """<h2>Lineage</h2>
<div class="fl-legend">{legend}</div>
<div class="fl-toolbar">
<input id="fl-graph-search" type="search" placeholder="find node…" aria-label="find node">
<button id="fl-graph-fit" type="button">fit</button>
<button id="fl-graph-clear" type="button">clear path</button>
<span id="fl-graph-status">drawing…</span>
</div>
<div class="fl-viewer">
<div id="fl-graph"{attributes}></div>
<aside id="fl-details"><p class="muted">Click a node for its details. Use “path from here”, \
then click a second node, to highlight the path between them.</p></aside>
</div>
<script type="application/json" id="fl-graph-data">{data}</script>"""

PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; \
style-src 'unsafe-inline'; img-src data:; script-src {hashes}">
<meta name="generator" content="flowlineage">
<title>{title}</title>
<style>{css}</style>
</head>
<body class="fl-page">
<main>
<h1>{title}</h1>
<p class="muted">{summary}</p>
{viewer}
</main>
{scripts}
</body>
</html>
"""


@cache
def static_text(name: str) -> str:
    """A file of ``flowlineage/render/static`` as text."""
    return files(__package__).joinpath("static", name).read_text(encoding="utf-8")


def json_for_script(data: Any) -> str:
    """JSON safe inside ``<script>``: ``<``, ``>``, ``&`` and line separators escaped."""
    return json.dumps(data, default=str, separators=(",", ":")).translate(_SCRIPT_ESCAPES)


def _css_color(value: str, fallback: str) -> str:
    """A colour an adapter gave, if it is one (``#hex`` or a name); else ``fallback``."""
    return value if _CSS_COLOR.fullmatch(value) else fallback


def palette() -> dict[str, Any]:
    """What the viewer draws with: run colours by orchestrator (from the adapters), artifact
    and collection colours, strokes of failed runs."""
    runs = {name: [_css_color(fill, UNKNOWN_COLOR[0]), _css_color(stroke, UNKNOWN_COLOR[1])]
            for name, (fill, stroke) in orchestrator_colors().items()}
    return {"runs": runs, "default_run": runs[PYTHON.orchestrator],
            "artifact": list(ARTIFACT_COLORS), "collection": list(COLLECTION_COLORS),
            "status": STATUS_STROKES}


def run_colors(orchestrator: str) -> list[str]:
    """Fill and stroke of an orchestrator's runs (a plain script's when it is unknown)."""
    colors = palette()
    return list(colors["runs"].get(orchestrator, colors["default_run"]))


def _swatch(text: str, fill: str, stroke: str, extra: str = "") -> str:
    return (f'<span><span class="sw" style="background:{fill};border-color:{stroke}{extra}">'
            f"</span>{escape(text)}</span>")


def viewer_block(graph: dict[str, Any], api: str | None = None,
                 link: str | None = None) -> str:
    """The viewer's markup around ``graph`` (``render``'s JSON shape) and the palette.

    ``api`` is the URL prefix for expanding nodes on demand, ``link`` the prefix of entity
    pages; a standalone file has neither.
    """
    colors = palette()
    legend = [_swatch(f"{name} run", fill, stroke) for name, (fill, stroke) in
              colors["runs"].items()]
    legend.append(_swatch("artifact", *ARTIFACT_COLORS, ";border-radius:6px"))
    legend.append(_swatch("collection", *COLLECTION_COLORS))
    attributes = "" if api is None else f' data-api="{escape(api)}"'
    if link is not None:
        attributes += f' data-link="{escape(link)}"'
    return VIEWER.format(legend="\n".join(legend), attributes=attributes,
                         data=json_for_script({**graph, "palette": colors}))


def _inline_js(source: str) -> str:
    """JavaScript safe inside an inline ``<script>`` (no closing tag or comment opener)."""
    return re.sub(r"</(script)", r"<\\/\1", source, flags=re.IGNORECASE).replace("<!--", "<\\!--")


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def render_html(graph: dict[str, Any]) -> str:
    """One HTML page with the interactive viewer, its scripts and ``graph`` inlined.

    ``graph`` has the shape of ``formats.to_dict``: ``start``, ``direction``, ``nodes`` and
    ``edges``. The page loads nothing from the network (its CSP forbids it).
    """
    scripts = [_inline_js(static_text(name)) for name in SCRIPTS]
    start = f"{graph['start']['kind']}:{graph['start']['id']}"
    node = next((n for n in graph["nodes"] if n["id"] == start), None)
    label = node["label"] if node is not None else start
    title = f"{graph.get('direction', '')} lineage of {graph['start']['kind']} {label}".strip()
    runs = sum(1 for n in graph["nodes"] if n["kind"] == "run")
    arts = sum(1 for n in graph["nodes"] if n["kind"] == "artifact")
    summary = f"{runs} run(s), {arts} artifact(s), {len(graph['edges'])} edge(s)"
    return PAGE.format(
        hashes=" ".join(_sha256(s) for s in scripts), title=escape(title),
        css=static_text(STYLESHEET), summary=escape(summary), viewer=viewer_block(graph),
        scripts="\n".join(f"<script>{s}</script>" for s in scripts))

"""The lineage viewer as one self-contained HTML file (``lineage --format html``)."""

from __future__ import annotations

import base64
import hashlib
import re
from functools import cache
from importlib.resources import files
from typing import Any

from markupsafe import Markup

from .pages import render

SCRIPTS = ("vendor/cytoscape.min.js", "vendor/cytoscape-dagre.min.js", "graph.js")


@cache
def static_text(name: str) -> str:
    """A file of ``flowlineage/ui/static`` as text."""
    return files("flowlineage.ui").joinpath("static", name).read_text(encoding="utf-8")


def _inline_js(source: str) -> str:
    """JavaScript safe inside an inline ``<script>`` (no closing tag or comment opener)."""
    return re.sub(r"</(script)", r"<\\/\1", source, flags=re.IGNORECASE).replace("<!--", "<\\!--")


def _sha256(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode()).digest()).decode() + "'"


def render_html(graph: dict[str, Any]) -> str:
    """One HTML page with the interactive viewer, its scripts and ``graph`` inlined.

    ``graph`` has the shape of ``render``'s json format: ``start``, ``direction``, ``nodes``
    and ``edges``. The page loads nothing from the network (its CSP forbids it).
    """
    scripts = [_inline_js(static_text(name)) for name in SCRIPTS]
    start = f"{graph['start']['kind']}:{graph['start']['id']}"
    node = next((n for n in graph["nodes"] if n["id"] == start), None)
    label = node["label"] if node is not None else start
    title = f"{graph.get('direction', '')} lineage of {graph['start']['kind']} {label}".strip()
    runs = sum(1 for n in graph["nodes"] if n["kind"] == "run")
    arts = sum(1 for n in graph["nodes"] if n["kind"] == "artifact")
    summary = f"{runs} run(s), {arts} artifact(s), {len(graph['edges'])} edge(s)"
    return render("standalone.html", title=title, summary=summary, graph=graph,
                  css=Markup(static_text("app.css")),
                  scripts=[Markup(s) for s in scripts],
                  script_hashes=Markup(" ".join(_sha256(s) for s in scripts)))

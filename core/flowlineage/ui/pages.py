"""HTML rendering: one Jinja2 environment with autoescape on, and its filters."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from ..render.viewer import run_colors, viewer_block


def _viewer(graph: dict[str, Any], api: str | None, link: str | None) -> Markup:
    return Markup(viewer_block(graph, api, link))  # viewer_block escapes what it embeds


def human_size(size: int | None) -> str:
    """A byte count for people: ``532 B``, ``1.2 kB``."""
    if size is None:
        return ""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return ""  # pragma: no cover


def duration(seconds: float | None) -> str:
    """Seconds for people: ``0.4 s``, ``3 min 2 s``, ``2 h 5 min``."""
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {sec} s"
    return f"{minutes // 60} h {minutes % 60} min"


def when(value: str | None) -> str:
    """An ISO timestamp shortened to ``YYYY-MM-DD HH:MM:SS``."""
    return "" if not value else value.replace("T", " ")[:19]


def pretty_json(value: Any) -> str:
    """Indented JSON for ``<pre>`` blocks (escaped by autoescape like any text)."""
    return json.dumps(value, indent=2, default=str, ensure_ascii=False)


@cache
def environment() -> Environment:
    """The template environment (autoescape on for every template)."""
    env = Environment(loader=PackageLoader("flowlineage.ui", "templates"),
                      autoescape=select_autoescape(default=True, default_for_string=True),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(size=human_size, duration=duration, when=when, pretty=pretty_json)
    env.globals.update(lineage_viewer=_viewer, run_colors=run_colors)
    return env


def render(template: str, **context: Any) -> str:
    """Render one template with ``context``."""
    return environment().get_template(template).render(**context)

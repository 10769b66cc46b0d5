"""Owns the ``flowlineage ui`` web app (pages, API, its stylesheet); the lineage viewer it
embeds lives in ``render.viewer``.
May import: cli (the other front end) and every layer below it; the database only in ``queries``.

``create_app(token)`` builds the Starlette app, ``serve(host, port, token)`` runs it,
``ui_command`` is the CLI entry and ``render_html(graph)`` writes the viewer as one HTML file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["create_app", "render_html", "serve", "ui_command"]

if TYPE_CHECKING:
    from ..render.viewer import render_html
    from .app import create_app
    from .cli import ui_command
    from .server import serve

_EXPORTS = {"create_app": ".app", "serve": ".server", "ui_command": ".cli",
            "render_html": "..render.viewer"}


def __getattr__(name: str) -> Any:
    from importlib import import_module

    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flowlineage.ui' has no attribute {name!r}")
    return getattr(import_module(module, __name__), name)

"""Owns the ``flowlineage ui`` web app and the self-contained lineage viewer (pages, API, static).
May import: cli (the other front end) and every layer below it; the database only in ``queries``.

``create_app(token)`` builds the Starlette app, ``serve(host, port, token)`` runs it,
``ui_command`` is the CLI entry and ``render_html(graph)`` writes one HTML file.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["create_app", "render_html", "serve", "ui_command"]

if TYPE_CHECKING:
    from .app import create_app
    from .cli import ui_command
    from .server import serve
    from .viewer import render_html

_EXPORTS = {"create_app": "app", "serve": "server", "ui_command": "cli",
            "render_html": "viewer"}


def __getattr__(name: str) -> Any:
    from importlib import import_module

    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flowlineage.ui' has no attribute {name!r}")
    return getattr(import_module(f".{module}", __name__), name)

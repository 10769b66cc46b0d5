"""The plugin manager: loads entry points of group ``flowlineage`` once, on first use.

A plugin that fails to import logs one warning naming it; the others still load.
``FLOWLINEAGE_PLUGINS=name,name`` limits which entry points load (empty: none). The core
learns which orchestrators exist (names, reference types, colours) from the
``flowlineage_adapters`` hook; it names none itself.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

import pluggy

from . import hookspecs
from .errors import PluginError

ENTRY_POINT_GROUP = "flowlineage"
logger = logging.getLogger("flowlineage.plugins")

_pm: pluggy.PluginManager | None = None
_bookkeeping: frozenset[str] | None = None
_lock = threading.Lock()


def get_plugin_manager() -> pluggy.PluginManager:
    """The process's plugin manager, with installed plugins loaded."""
    global _pm
    if _pm is None:
        with _lock:
            if _pm is None:
                pm = pluggy.PluginManager("flowlineage")
                pm.add_hookspecs(hookspecs)
                load_entry_points(pm)
                _check(pm)
                _pm = pm
    return _pm


def hook() -> Any:
    """Shortcut for ``get_plugin_manager().hook``."""
    return get_plugin_manager().hook


def load_entry_points(pm: pluggy.PluginManager) -> None:
    """Register the entry points of group ``flowlineage`` allowed by ``FLOWLINEAGE_PLUGINS``."""
    allowed = os.environ.get("FLOWLINEAGE_PLUGINS")
    names = None if allowed is None else {n.strip() for n in allowed.split(",") if n.strip()}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if names is not None and ep.name not in names:
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        try:
            plugin = ep.load()
        except Exception as e:  # one broken plugin must not break the others
            logger.warning("flowlineage plugin %r failed to load: %s: %s", ep.name,
                           type(e).__name__, e)
            continue
        pm.register(plugin, name=ep.name)


def _check(pm: pluggy.PluginManager) -> None:
    """Unregister plugins whose hooks break the contract (unknown hook names, wrong
    arguments), with one warning each, so the rest of the tool still works."""
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as e:
        bad = e.plugin
        name = pm.get_name(bad) if bad is not None else "?"
        logger.warning("flowlineage plugin %r breaks the hook contract: %s", name, e)
        if bad is not None:
            pm.unregister(bad)
        _check(pm)


def notify(caller: Any, **kwargs: Any) -> None:
    """Call an observer hook (``notify(hook().flowlineage_run_started, run=run)``); a failing
    observer logs a warning and never breaks tracking."""
    try:
        caller(**kwargs)
    except Exception as e:
        logger.warning("flowlineage hook %s failed: %s: %s", caller.name, type(e).__name__, e)


@dataclass(frozen=True)
class Adapter:
    """What an adapter plugin tells the core through ``flowlineage_adapters()``."""

    name: str
    orchestrator: str
    reference_types: tuple[str, ...]
    color: tuple[str, str] | None = None
    """Fill and stroke colours of its runs in pictures."""
    commands: tuple[str, ...] = ()
    bookkeeping_files: tuple[str, ...] = ()
    """Names of marker files it writes into output folders (never part of their content)."""


PYTHON_COLOR = ("#fef3c7", "#b45309")
UNKNOWN_COLOR = ("#f1f5f9", "#334155")
"""Fill and stroke of runs whose adapter names no colour."""
PYTHON = Adapter("python", "python", (), PYTHON_COLOR)
"""Runs of plain scripts tracked with ``track()``: the core's own orchestrator."""


def adapters() -> list[Adapter]:
    """Every installed adapter's description; ``PluginError`` for a malformed one."""
    found = []
    for desc in hook().flowlineage_adapters():
        try:
            found.append(Adapter(
                name=str(desc["name"]), orchestrator=str(desc["orchestrator"]),
                reference_types=tuple(desc.get("reference_types", ())),
                color=tuple(desc["color"]) if desc.get("color") else None,
                commands=tuple(desc.get("commands", ())),
                bookkeeping_files=tuple(desc.get("bookkeeping_files", ())),
            ))
        except (KeyError, TypeError) as e:
            raise PluginError(
                f"an adapter's flowlineage_adapters() answer {desc!r} lacks {e}: it needs "
                "'name', 'orchestrator' and 'reference_types'"
            ) from e
    return found


def bookkeeping_files() -> frozenset[str]:
    """File names no folder counts as content: every adapter's ``bookkeeping_files``."""
    global _bookkeeping
    if _bookkeeping is None:
        _bookkeeping = frozenset(n for a in adapters() for n in a.bookkeeping_files)
    return _bookkeeping


def orchestrator_of(reference_type: str | None, transform_key: str,
                    known: list[Adapter] | None = None) -> str:
    """The orchestrator that ran a run: the adapter owning its reference type or the
    ``<orchestrator>:`` prefix of its transform key; ``python`` for tracked scripts.
    ``known``: the adapters, when the caller asked for them once for many runs."""
    for adapter in adapters() if known is None else known:
        if reference_type in adapter.reference_types or (
            reference_type or "").startswith(adapter.orchestrator) or transform_key.startswith(
                adapter.orchestrator + ":"):
            return adapter.orchestrator
    return PYTHON.orchestrator


def orchestrator_colors() -> dict[str, tuple[str, str]]:
    """Fill and stroke colours by orchestrator (adapters without colours get grey)."""
    colors = {a.orchestrator: a.color or UNKNOWN_COLOR for a in adapters()}
    colors[PYTHON.orchestrator] = PYTHON_COLOR
    return colors


def reset() -> None:
    """Forget the plugin manager (tests use this after changing ``FLOWLINEAGE_PLUGINS``)."""
    global _pm, _bookkeeping
    with _lock:
        _pm, _bookkeeping = None, None

"""The plugin manager: loads entry points of group ``flowlineage`` once, on first use.

A plugin that fails to import logs one warning naming it; the others still load.
``FLOWLINEAGE_PLUGINS=name,name`` limits which entry points load (empty: none).
"""

from __future__ import annotations

import logging
import os
import threading
from importlib.metadata import entry_points
from typing import Any

import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "flowlineage"
logger = logging.getLogger("flowlineage.plugins")

_pm: pluggy.PluginManager | None = None
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


def notify(hook_name: str, **kwargs: Any) -> None:
    """Call an observer hook; a failing observer logs a warning and never breaks tracking."""
    try:
        getattr(hook(), hook_name)(**kwargs)
    except Exception as e:
        logger.warning("flowlineage hook %s failed: %s: %s", hook_name, type(e).__name__, e)


def reset() -> None:
    """Forget the plugin manager (tests use this after changing ``FLOWLINEAGE_PLUGINS``)."""
    global _pm
    with _lock:
        _pm = None

"""Lazy imports: optional dependencies (with the extra to install when one is missing) and
the heavy internal modules loaded on first use (with the garbage collector paused)."""

from __future__ import annotations

import gc
import importlib
from types import ModuleType

from .errors import MissingDependency


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise ``MissingDependency`` naming ``flowlineage[extra]``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        if exc.name is not None and exc.name.split(".")[0] != module.split(".")[0]:
            raise
        raise MissingDependency(module.split(".")[0], extra) from exc


def load(module: str, package: str | None = None) -> ModuleType:
    """Import ``module`` with the garbage collector paused: importing the entities (or a CLI
    command) creates only long-lived objects (tables, mappers, classes), and collecting
    among them took about a quarter of flowlineage's own start-up time."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return importlib.import_module(module, package)
    finally:
        if enabled:
            gc.enable()

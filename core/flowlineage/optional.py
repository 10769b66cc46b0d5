"""Lazy imports of optional dependencies, with the extra to install when one is missing."""

from __future__ import annotations

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

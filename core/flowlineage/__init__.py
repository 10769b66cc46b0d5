"""flowlineage: data lineage for every workflow run, whatever orchestrator ran it.

``import flowlineage`` is cheap: the database layer, pandas, s3fs and orchestrators load on
first use of the names below. Using any entity (``fl.Run``, ``fl.Artifact``, ...) maps them
all, so each can navigate to the others.
"""

from __future__ import annotations

import sys
from importlib import import_module
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .optional import load as _load

__version__ = "0.1.0"

_EXPORTS = {  # public name -> (module, attribute)
    "connect": ("db.engine", "connect"),
    "disconnect": ("context", "disconnect"),
    "get_instance": ("db.engine", "get_instance"),
    "track": ("context", "track"),
    "finish": ("context", "finish"),
    "input": ("artifact.declare", "input"),
    "output": ("artifact.declare", "output"),
    "step": ("steps", "step"),
    "flow": ("steps", "flow"),
    "Q": ("db.lookups", "Q"),
    "get_current_run": ("run.run", "get_current_run"),
    "use_run": ("run.run", "use_run"),
    "Run": ("run.run", "Run"),
    "Transform": ("run.transform", "Transform"),
    "Project": ("run.labels", "Project"),
    "ULabel": ("run.labels", "ULabel"),
    "Artifact": ("artifact.artifact", "Artifact"),
    "Collection": ("collection.collection", "Collection"),
    "Storage": ("storage.roots", "Storage"),
    "save": ("context", "save"),
    "errors": ("errors", None),
}
_ENTITIES = "collection.collection"  # imports every entity module below it

__all__ = [
    "Artifact", "Collection", "Project", "Q", "Run", "Storage", "Transform", "ULabel", "connect",
    "context", "disconnect", "errors", "finish", "flow", "get_current_run", "get_instance",
    "input", "output", "save", "step", "track", "use_run",
]

if TYPE_CHECKING:
    from . import errors
    from .artifact.artifact import Artifact
    from .artifact.declare import input, output
    from .collection.collection import Collection
    from .context import context, disconnect, finish, save, track
    from .db.engine import connect, get_instance
    from .db.lookups import Q
    from .run.labels import Project, ULabel
    from .run.run import Run, get_current_run, use_run
    from .run.transform import Transform
    from .steps import flow, step
    from .storage.roots import Storage


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'flowlineage' has no attribute {name!r}")
    module, attr = target
    if module != "errors":
        _load(f".{_ENTITIES}", __name__)
    mod = import_module(f".{module}", __name__)
    value = mod if attr is None else getattr(mod, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)


class _Facade(ModuleType):
    """The package module: ``context`` is lamindb's ``ln.context`` object, not the
    ``flowlineage.context`` module the import system would name there."""

    @property
    def context(self) -> Any:
        _load(f".{_ENTITIES}", __name__)
        return import_module(".context", __name__).context

    @context.setter
    def context(self, value: Any) -> None:
        """Ignore the import system naming the ``flowlineage.context`` submodule here."""


sys.modules[__name__].__class__ = _Facade

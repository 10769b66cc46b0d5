"""flowlineage: data lineage for every workflow run, whatever orchestrator ran it.

``import flowlineage`` is cheap: the database layer, pandas, s3fs and orchestrators load on
first use of the names below.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS = {
    "connect": "instance",
    "disconnect": "instance",
    "get_instance": "instance",
    "track": "tracking",
    "finish": "tracking",
    "get_current_run": "tracking",
    "use_run": "tracking",
    "Run": "models",
    "Transform": "models",
    "Artifact": "models",
    "Collection": "models",
    "Storage": "models",
    "Project": "models",
    "ULabel": "models",
    "save": "api",
    "errors": "errors",
}

__all__ = [
    "Artifact", "Collection", "Project", "Run", "Storage", "Transform", "ULabel", "connect",
    "disconnect", "errors", "finish", "get_current_run", "get_instance", "save", "track",
    "use_run",
]

if TYPE_CHECKING:
    from . import errors
    from .api import save
    from .instance import connect, disconnect, get_instance
    from .models import Artifact, Collection, Project, Run, Storage, Transform, ULabel
    from .tracking import finish, get_current_run, track, use_run


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'flowlineage' has no attribute {name!r}")
    mod = import_module(f".{module}", __name__)
    value = mod if name == module else getattr(mod, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)

"""Prefect adapter: flow and task runs become flowlineage Runs, with their inputs and outputs.

``from flowlineage_prefect import flow, task`` (drop-ins for Prefect's decorators) or
``@tracked`` above ``@flow`` / ``@task``. Importing this package is cheap: Prefect loads on
first use of ``tracked``, ``flow`` or ``task``; ``child_env`` does not need it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._env import child_env
from .hooks import FLOW_RUN, TASK_RUN

__all__ = ["FLOW_RUN", "TASK_RUN", "child_env", "flow", "task", "tracked"]

if TYPE_CHECKING:
    from ._adapter import flow, task, tracked


def __getattr__(name: str) -> Any:
    if name not in ("tracked", "flow", "task"):
        raise AttributeError(f"module 'flowlineage_prefect' has no attribute {name!r}")
    from flowlineage.adapters import require

    require("prefect", "prefect")
    value = getattr(import_module("._adapter", __name__), name)
    globals()[name] = value
    return value

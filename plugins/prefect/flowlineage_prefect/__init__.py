"""Prefect adapter: flow and task runs become flowlineage Runs, with their inputs and outputs.

``from flowlineage_prefect import flow, task`` (drop-ins for Prefect's decorators),
``@tracked`` above ``@flow`` / ``@task``, or ``enable()`` to track plain Prefect flows and
tasks. Importing this package is cheap: Prefect loads on first use of ``tracked``,
``flow``, ``task``, ``enable`` or ``disable``; ``child_env`` does not need it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._env import child_env
from .hooks import FLOW_RUN, TASK_RUN

__all__ = ["FLOW_RUN", "TASK_RUN", "child_env", "disable", "enable", "flow", "task", "tracked"]
_PREFECT_NAMES = ("tracked", "flow", "task", "enable", "disable")

if TYPE_CHECKING:
    from ._adapter import disable, enable, flow, task, tracked


def __getattr__(name: str) -> Any:
    if name not in _PREFECT_NAMES:
        raise AttributeError(f"module 'flowlineage_prefect' has no attribute {name!r}")
    from flowlineage.adapters import require

    require("prefect", "prefect")
    value = getattr(import_module("._adapter", __name__), name)
    globals()[name] = value
    return value

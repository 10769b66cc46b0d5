"""Prefect's plugin entry point (group ``prefect.plugins``, name ``flowlineage``).

With ``PREFECT_PLUGINS_ENABLED=true``, ``import prefect`` runs ``setup_environment``, which
calls ``enable()``: every flow and task the process defines afterwards is tracked, plain
``@prefect.flow`` / ``@prefect.task`` included. ``PREFECT_PLUGINS_DENY=flowlineage`` turns
it off again.
"""

from __future__ import annotations

from typing import Any

from prefect.plugins import register_hook

PREFECT_PLUGIN_API_REQUIRES = ">=0.1,<1"


@register_hook
def setup_environment(*, ctx: Any) -> None:
    """Track every flow and task of this process."""
    from ._adapter import enable

    enable()

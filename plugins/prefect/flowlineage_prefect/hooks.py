"""flowlineage hook implementations of the Prefect adapter (light: imports no prefect)."""

from __future__ import annotations

from typing import Any

from flowlineage.hookspecs import hookimpl


REFERENCE_TYPES = ["prefect_flow_run", "prefect_task_run"]


@hookimpl
def flowlineage_adapters() -> dict[str, Any]:
    """Describe the Prefect adapter."""
    return {
        "name": "prefect",
        "orchestrator": "prefect",
        "reference_types": REFERENCE_TYPES,
    }

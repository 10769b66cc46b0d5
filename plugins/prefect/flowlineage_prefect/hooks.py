"""flowlineage hook implementations of the Prefect adapter (light: imports no prefect)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowlineage.adapters import hookimpl

if TYPE_CHECKING:
    import typer

FLOW_RUN = "prefect_flow_run"
"""``Run.reference_type`` of flow runs (``reference`` is the flow run id)."""
TASK_RUN = "prefect_task_run"
"""``Run.reference_type`` of task runs (``reference`` is the task run id)."""
REFERENCE_TYPES = [FLOW_RUN, TASK_RUN]


@hookimpl
def flowlineage_adapters() -> dict[str, Any]:
    """Describe the Prefect adapter."""
    return {
        "name": "prefect",
        "orchestrator": "prefect",
        "color": ("#dbeafe", "#1d4ed8"),
        "reference_types": REFERENCE_TYPES,
        "commands": ["prefect watch"],
    }


@hookimpl
def flowlineage_register_commands(cli: typer.Typer) -> None:
    """Add ``flowlineage prefect watch``."""
    from .cli import app

    cli.add_typer(app, name="prefect")

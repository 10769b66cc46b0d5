"""flowlineage hook implementations of the Nextflow adapter (light: imports no nextflow)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowlineage.adapters import hookimpl

if TYPE_CHECKING:
    import typer

REFERENCE_TYPES = ["nextflow_run", "nextflow_task"]


@hookimpl
def flowlineage_adapters() -> dict[str, Any]:
    """Describe the Nextflow adapter."""
    return {
        "name": "nextflow",
        "orchestrator": "nextflow",
        "color": ("#ede9fe", "#6d28d9"),
        "reference_types": REFERENCE_TYPES,
        "commands": ["nextflow ingest-trace", "nextflow ingest-lineage", "nextflow serve"],
    }


@hookimpl
def flowlineage_register_commands(cli: typer.Typer) -> None:
    """Add ``flowlineage nextflow ...``."""
    from .cli import app

    cli.add_typer(app, name="nextflow")

"""flowlineage hook implementations of the Nextflow adapter (light: imports no nextflow)."""

from __future__ import annotations

from typing import Any

from flowlineage.hookspecs import hookimpl

REFERENCE_TYPES = ["nextflow_run", "nextflow_task"]


@hookimpl
def flowlineage_adapters() -> dict[str, Any]:
    """Describe the Nextflow adapter."""
    return {
        "name": "nextflow",
        "orchestrator": "nextflow",
        "reference_types": REFERENCE_TYPES,
    }

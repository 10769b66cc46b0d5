"""flowlineage hook implementations of the Snakemake adapter (light: imports no snakemake)."""

from __future__ import annotations

from typing import Any

from flowlineage.adapters import hookimpl

REFERENCE_TYPES = ["snakemake_workflow", "snakemake_job"]


@hookimpl
def flowlineage_adapters() -> dict[str, Any]:
    """Describe the Snakemake adapter."""
    return {
        "name": "snakemake",
        "orchestrator": "snakemake",
        "color": ("#dcfce7", "#15803d"),
        "reference_types": REFERENCE_TYPES,
        # ``directory()`` outputs get a marker file Snakemake reads their mtime from
        "bookkeeping_files": [".snakemake_timestamp"],
    }

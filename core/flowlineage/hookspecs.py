"""The hooks plugins implement (pluggy). Every hook is documented in ``docs/plugins.md``.

Adapters (Prefect, Snakemake, Nextflow) and exporters (OpenLineage) are plugins; the core
calls these hooks and never imports a plugin.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import datetime

    import typer

hookspec = pluggy.HookspecMarker("flowlineage")
hookimpl = pluggy.HookimplMarker("flowlineage")


@hookspec
def flowlineage_adapters() -> dict[str, Any]:
    """Describe an adapter: ``{"name": ..., "orchestrator": ..., "reference_types": [...],
    "color": (fill, stroke), "commands": [...], "bookkeeping_files": [marker file names]}``;
    the core learns orchestrators only here."""


@hookspec
def flowlineage_register_commands(cli: typer.Typer) -> None:
    """Add subcommands to the ``flowlineage`` CLI (e.g. ``flowlineage nextflow ...``)."""


@hookspec
def flowlineage_run_started(run: Any) -> None:
    """Called after a run was recorded as started."""


@hookspec
def flowlineage_run_finished(run: Any) -> None:
    """Called after a run was recorded as finished (completed, errored or aborted)."""


@hookspec
def flowlineage_artifact_saved(artifact: Any, run: Any) -> None:
    """Called after an artifact was saved (or recreated) by ``run``."""


@hookspec
def flowlineage_artifact_used(artifact: Any, run: Any) -> None:
    """Called after an artifact was linked as an input of ``run``."""


@hookspec(firstresult=True)
def flowlineage_storage_options(root: str) -> dict[str, Any] | None:
    """Return fsspec options (credentials, endpoint) for a storage root; first answer wins."""


@hookspec(firstresult=True)
def flowlineage_export(
    format: str, since: datetime | None, out: str, progress: Callable[[int, int], None] | None
) -> int | None:
    """Write recorded lineage as ``format`` to ``out``; return how many items, else None."""

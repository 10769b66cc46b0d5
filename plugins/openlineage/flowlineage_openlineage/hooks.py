"""flowlineage hook implementations of the OpenLineage exporter.

Importing this module is cheap (no OpenLineage import); each observer hook checks a few
environment variables and returns at once when live events are not configured.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

from flowlineage.adapters import hookimpl

from .live import emitter

if TYPE_CHECKING:
    import typer
    from flowlineage import Artifact, Run

FORMAT = "openlineage"


@hookimpl
def flowlineage_run_started(run: Run) -> None:
    """Emit START."""
    live = emitter()
    if live is not None:
        live.run_started(run)


@hookimpl
def flowlineage_run_finished(run: Run) -> None:
    """Emit COMPLETE, FAIL or ABORT."""
    live = emitter()
    if live is not None:
        live.run_finished(run)


@hookimpl
def flowlineage_artifact_used(artifact: Artifact, run: Run) -> None:
    """Emit RUNNING with the new input."""
    live = emitter()
    if live is not None:
        live.artifact_used(artifact, run)


@hookimpl
def flowlineage_artifact_saved(artifact: Artifact, run: Run | None) -> None:
    """Emit RUNNING with the new output (artifacts saved outside a run emit nothing)."""
    live = emitter()
    if live is not None and run is not None:
        live.artifact_saved(artifact, run)


@hookimpl
def flowlineage_register_commands(cli: typer.Typer) -> None:
    """Add ``flowlineage export openlineage``."""
    from .cli import register

    register(cli)


@hookimpl
def flowlineage_export(format: str, since: datetime | None, out: str,
                       progress: Callable[[int, int], None] | None) -> int | None:
    """Write OpenLineage events of recorded runs to ``out`` (JSON lines)."""
    if format != FORMAT:
        return None
    from .export import export_events

    return export_events(out, since, progress)

"""``flowlineage export openlineage``: the exporter's own command, added through the
``flowlineage_register_commands`` hook."""

from __future__ import annotations

import sys
from typing import Annotated

import typer


def register(cli: typer.Typer) -> None:
    """Add ``export openlineage`` under the ``export`` group (made if no plugin made it)."""
    export = next((g.typer_instance for g in cli.registered_groups
                   if g.name == "export" and g.typer_instance is not None), None)
    if export is None:
        export = typer.Typer(help="Export lineage to other systems.", no_args_is_help=True)
        cli.add_typer(export, name="export")
    export.command("openlineage")(export_openlineage)


def export_openlineage(
    output: Annotated[str, typer.Option(
        "--output", "-o", metavar="FILE", help="JSON lines file to write ('-': stdout).")],
    since: Annotated[str | None, typer.Option(
        "--since", metavar="T", help="Only events at or after T: ISO date/time or a duration "
        "back from now (2h, 7d).")] = None,
) -> None:
    """Write recorded runs as OpenLineage RunEvents (START, COMPLETE, FAIL, ABORT)."""
    from flowlineage.adapters import cli_connect, hook, parse_since
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    cli_connect()
    err = Console(stderr=True, highlight=False)
    with Progress(TextColumn("exporting runs"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=err, transient=True,
                  disable=not err.is_terminal) as progress:
        task = progress.add_task("export", total=None)

        def report(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        written = hook().flowlineage_export(  # the hook: another exporter may take over
            format="openlineage", since=parse_since(since) if since else None, out=output,
            progress=report)
    if output != "-":
        print(f"wrote {written} openlineage event(s) to {output}", file=sys.stderr)


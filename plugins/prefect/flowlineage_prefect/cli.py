"""``flowlineage prefect watch``: the adapter's command, added through the
``flowlineage_register_commands`` hook (Prefect loads when the command runs)."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from ._watch import PassSummary

app = typer.Typer(help="Prefect flow and task runs.", no_args_is_help=True)


@app.command("watch")
def watch_cmd(
    once: Annotated[bool, typer.Option(
        "--once", help="One pass, then exit.")] = False,
    interval: Annotated[float, typer.Option(
        "--interval", metavar="SECONDS", min=0.1, help="Seconds between passes.")] = 5.0,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="T", help="Only flow runs expected to start at or after T: ISO "
        "date/time or a duration back from now (2h, 7d); default: all.")] = None,
    as_json: Annotated[bool, typer.Option(
        "--json", help="Print each pass's summary as JSON (one line per pass without "
        "--once).")] = False,
) -> None:
    """Record every flow run, subflow run and task run of the Prefect API you are configured
    for (PREFECT_API_URL), with or without flowlineage's decorators."""
    from flowlineage.adapters import cli_connect, parse_since, print_json, require

    start = parse_since(since) if since else None
    require("prefect", "prefect")
    from ._watch import watch

    cli_connect()

    def report(api_url: str, summary: PassSummary) -> None:
        data = {"api_url": api_url, **summary.as_dict()}
        if as_json and once:
            print_json(data)
        elif as_json:  # one line per pass
            typer.echo(json.dumps(data))
        elif once or summary.new or summary.updated:
            print(f"{api_url}: {summary.flow_runs} flow run(s), {summary.task_runs} task "
                  f"run(s): {summary.new} new, {summary.updated} updated, "
                  f"{summary.result_edges} result edge(s)", file=sys.stderr)
            sys.stderr.flush()

    try:
        watch(start, interval, once, report)
    except KeyboardInterrupt:
        pass

"""``flowlineage nextflow ...``: ingest-trace, ingest-lineage and serve (the weblog receiver)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from .mapping import IngestResult

app = typer.Typer(help="Record Nextflow runs: trace files, lineage stores, weblog events.",
                  no_args_is_help=True)


def _connect() -> None:
    from flowlineage.adapters import cli_connect as connect

    connect()


def _ingest(what: Path, ingest: Callable[[], IngestResult]) -> IngestResult:
    """Run an ingestion under a progress bar (shown when it takes over a second)."""
    from flowlineage.adapters import cli_progress

    with cli_progress(f"recording {what}"):
        return ingest()


def _report(result: IngestResult, as_json: bool) -> None:
    if as_json:
        from flowlineage.adapters import print_json

        print_json(result.as_dict())
        return
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(result.status_counts.items()))
    runs = ", ".join(result.workflow_runs) or "-"
    typer.echo(f"{result.source}: workflow run {runs}; {result.task_runs} task runs"
               + (f" ({statuses})" if statuses else "")
               + f"; {result.artifacts} artifacts, {result.input_links} input links")
    for reason in result.skipped:
        typer.echo(f"  skipped: {reason}", err=True)
    for note in result.notes:
        typer.echo(f"  note: {note}", err=True)


JsonOption = Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")]


@app.command("ingest-trace")
def ingest_trace_cmd(
    trace: Annotated[Path, typer.Argument(help="Trace file (-with-trace).")],
    run_id: Annotated[str | None, typer.Option(
        "--run-id", help="Reference of the workflow run (e.g. the session id); default: "
        "derived from the file's content, so re-ingesting it changes nothing.")] = None,
    run_name: Annotated[str | None, typer.Option("--run-name", help="Run name.")] = None,
    pipeline: Annotated[str | None, typer.Option(
        "--pipeline", metavar="KEY", help="Pipeline key (default: from --log, else as "
        "recorded before, else the trace's folder).")
    ] = None,
    workdir: Annotated[Path | None, typer.Option(
        "--workdir", metavar="DIR", help="Nextflow work directory: record task outputs and "
        "inputs.")] = None,
    log: Annotated[Path | None, typer.Option(
        "--log", metavar="FILE", help="The run's .nextflow.log: session id, run name, "
        "pipeline, times, status and error of the workflow run.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Record a trace file: a workflow run and one run per task, metrics as features."""
    from .ingest_trace import ingest_trace

    _connect()
    _report(_ingest(trace, lambda: ingest_trace(trace, run_id=run_id, run_name=run_name,
                                                pipeline=pipeline, workdir=workdir, log=log)),
            as_json)


@app.command("ingest-log")
def ingest_log_cmd(
    logs: Annotated[list[Path], typer.Argument(
        help=".nextflow.log files (rotated ones too: .nextflow.log.1 ...).")],
    pipeline: Annotated[str | None, typer.Option(
        "--pipeline", metavar="KEY", help="Pipeline key of a run not recorded yet "
        "(default: from the log's launch line).")] = None,
    as_json: JsonOption = False,
) -> None:
    """Record workflow runs' session, name, times, status and error from Nextflow logs."""
    from .ingest_log import ingest_log
    from .nextflow_log import read_nextflow_log

    parsed = [read_nextflow_log(log) for log in logs]  # all read first: a bad one writes nothing
    _connect()
    for log in parsed:
        _report(ingest_log(log, pipeline=pipeline), as_json)


@app.command("ingest-lineage")
def ingest_lineage_cmd(
    store: Annotated[Path, typer.Argument(help="Lineage store directory (.lineage).")],
    pipeline: Annotated[str | None, typer.Option(
        "--pipeline", metavar="KEY", help="Pipeline key (default: the run's repository).")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Record a lineage store: runs, tasks, output files and task inputs."""
    from .ingest_lineage import ingest_lineage

    _connect()
    _report(_ingest(store, lambda: ingest_lineage(store, pipeline=pipeline)), as_json)


@app.command("serve")
def serve_cmd(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on.")
                    ] = 8585,
    token: Annotated[str | None, typer.Option(
        "--token", envvar="FLOWLINEAGE_WEBLOG_TOKEN",
        help="Required token: -with-weblog http://HOST:PORT/<token>.")] = None,
    pipeline: Annotated[str | None, typer.Option(
        "--pipeline", metavar="KEY", help="Pipeline key for runs whose events name none.")
    ] = None,
) -> None:
    """Receive Nextflow weblog events (-with-weblog) and record runs as they happen."""
    from .weblog_server import check_exposure, serve

    check_exposure(host, token)  # before connecting: nothing to undo
    _connect()
    def ready(bound: int) -> None:
        typer.echo(f"flowlineage weblog receiver on http://{host}:{bound}/"
                   + ("<token>" if token else ""), err=True)

    serve(host=host, port=port, token=token, pipeline=pipeline, ready=ready)

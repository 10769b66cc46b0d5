"""The ``flowlineage`` command line (typer + rich).

``flowlineage init|info``, ``runs list|show|reap|delete``,
``artifacts list|show|delete|restore``, ``collections list|show``, ``transforms list|show``,
``search``, ``lineage``, ``status``, ``check``, ``gc``, ``demo``, ``ui`` and the subcommands plugins
add through ``flowlineage_register_commands``. User errors (any ``FlowlineageError`` and bad
arguments) print one line and exit with code 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from ..artifact.artifact import Artifact
from ..collection.collection import Collection
from ..db.enums import RunStatus
from ..errors import FlowlineageError
from ..plugins import get_plugin_manager
from ..render.formats import FORMATS, render
from ..run.run import Run
from ..run.transform import Transform
from ..storage.roots import Storage
from ..ui.cli import ui_command
from .common import STATE, cells, connect, console, print_json
from .demo import run_demo
from .gc import gc_cmd
from .paths import check_cmd, resolve_path_or_node, status_cmd
from .records import artifacts_app, collections_app, runs_app
from .search import search_cmd
from .transforms import transforms_app

logger = logging.getLogger("flowlineage.cli")
USER_ERROR = 2
INTERNAL_ERROR = 1
HELP_OPTIONS = ["-h", "--help"]


class FlowlineageGroup(TyperGroup):
    """The root command: turns user errors into one line on stderr and exit code 2."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        """Run the CLI; return (or exit with, in standalone mode) the exit code."""
        STATE.reset()
        _bare_flags(self)
        try:
            rv = super().main(args, prog_name, complete_var, False, windows_expand_args,
                              **extra)
            code = rv if isinstance(rv, int) else 0
        except FlowlineageError as e:
            if STATE.debug:
                raise
            _error(str(e))
            code = USER_ERROR
        except typer.TyperException as e:  # click's usage and parameter errors
            if type(e).__name__ != "NoArgsIsHelpError":  # help was printed already
                ctx = getattr(e, "ctx", None)
                hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
                _error(e.format_message() + hint)
            code = e.exit_code
        except typer.Abort:
            typer.echo("Aborted.", err=True)
            code = 1
        except OSError as e:  # a file or folder named on the command line, a port in use
            if STATE.debug:
                raise
            where = f": {e.filename}" if e.filename else ""
            _error(f"{e.strerror or e}{where}")
            code = USER_ERROR
        except Exception as e:  # a bug: one line, and how to see the traceback
            if STATE.debug:
                raise
            _error(f"unexpected {type(e).__name__}: {e} (rerun with --debug for the traceback "
                   "and please report it)")
            code = INTERNAL_ERROR
        if standalone_mode:
            sys.exit(code)
        return code


def _bare_flags(command: Any) -> None:
    """Show boolean flags as flags in help (``--json``, not ``--json <bool>``)."""
    help_option = command.get_help_option(typer.Context(command,
                                                        help_option_names=HELP_OPTIONS))
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _bare_flags(sub)


def _error(message: str) -> None:
    typer.echo("Error: " + " ".join(message.split()), err=True)


def _root(
    db: Annotated[str | None, typer.Option(
        "--db", metavar="URL", help="Database URL (default: FLOWLINEAGE_DB, else SQLite in "
        "FLOWLINEAGE_HOME).")] = None,
    storage: Annotated[str | None, typer.Option(
        "--storage", metavar="ROOT", help="Default storage root (local folder or "
        "s3://bucket/prefix).")] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs."
                                        )] = False,
) -> None:
    """Data lineage for every workflow run, whatever orchestrator ran it."""
    STATE.db, STATE.storage, STATE.debug = db, storage, debug
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")


# ---------------------------------------------------------------- init and info


def init_cmd() -> None:
    """Create (or upgrade) the instance: database schema and default storage."""
    inst = connect()
    console().print(f"flowlineage instance ready\n  database: {inst.url}\n"
                    f"  storage:  {inst.storage_root}", markup=False)


def info_cmd(as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
             ) -> None:
    """Show the instance: database, storage, record counts, plugins and adapters."""
    __version__ = version("flowlineage")
    inst = connect()
    pm = get_plugin_manager()
    storages = [s.root for s in Storage.filter().order_by("id").all()]
    runs = {status: Run.filter(status=status).count() for status in RunStatus.__members__}
    counts = {"transforms": Transform.filter().count(), "artifacts": Artifact.filter().count(),
              "collections": Collection.filter().count()}
    plugins = sorted(name for name, _ in pm.list_name_plugin() if name)
    adapters: list[dict[str, Any]] = [a for a in pm.hook.flowlineage_adapters() if a]
    if as_json:
        print_json({"version": __version__, "home": str(inst.settings.home),
                    "database": inst.url, "dialect": inst.dialect,
                    "storage": inst.storage_root, "storages": storages, "runs": runs, **counts,
                    "plugins": plugins, "adapters": adapters})
        return
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    by_status = ", ".join(f"{n} {status}" for status, n in runs.items() if n)
    rows = [
        ("version", __version__), ("home", str(inst.settings.home)), ("database", inst.url),
        ("storage", inst.storage_root), ("storages", str(len(storages))),
        ("transforms", str(counts["transforms"])),
        ("runs", f"{sum(runs.values())}" + (f" ({by_status})" if by_status else "")),
        ("artifacts", str(counts["artifacts"])), ("collections", str(counts["collections"])),
        ("plugins", ", ".join(plugins) or "-"),
        ("adapters", ", ".join(str(a.get("name")) for a in adapters) or "-"),
    ]
    for name, value in rows:
        grid.add_row(*cells(name, value))
    console().print(grid)


def demo_cmd(
    home: Annotated[Path | None, typer.Option(
        "--home", help="FLOWLINEAGE_HOME for the demo (default: $FLOWLINEAGE_HOME if set, "
        "else a new temporary folder).")] = None,
    out: Annotated[Path | None, typer.Option(
        "--out", help="Folder for lineage.html (default: the current folder).")] = None,
) -> None:
    """Run Snakemake, Nextflow, a tracked script and Prefect into one lineage, offline."""
    import os
    import tempfile

    env_home = os.environ.get("FLOWLINEAGE_HOME")
    target = home or (Path(env_home).expanduser() if env_home else None) or Path(
        tempfile.mkdtemp(prefix="flowlineage-demo-"))
    run_demo(target, out=out)


# ---------------------------------------------------------------- lineage


def lineage_cmd(
    node: Annotated[str, typer.Argument(
        metavar="PATH|ID", help="An existing file or folder (or s3:// URI), else an artifact "
        "(id, uid, uid prefix, key) or run (id, uid, uid prefix); run:ID / artifact:ID when "
        "ambiguous.")],
    upstream: Annotated[bool, typer.Option(
        "--upstream/--downstream", help="Where the data came from, or where it went.")] = True,
    depth: Annotated[int | None, typer.Option("--depth", min=1, help="At most N hops.")
                     ] = None,
    format: Annotated[str, typer.Option(
        "--format", "-f", help="text, mermaid, dot, json or html.")] = "text",
    output: Annotated[str | None, typer.Option(
        "--output", "-o", metavar="FILE", help="Write to FILE instead of stdout.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Same as --format json.")] = False,
) -> None:
    """Draw the lineage of an artifact or a run."""
    from pathlib import Path

    if as_json:
        format = "json"
    if format not in FORMATS:
        raise typer.BadParameter(f"{format!r}: use one of {', '.join(FORMATS)}",
                                 param_hint="--format")
    connect()
    record = resolve_path_or_node(node)
    lineage = record.upstream(depth) if upstream else record.downstream(depth)
    text = render(lineage, format)
    if output is None:
        sys.stdout.write(text)
        return
    Path(output).write_text(text, encoding="utf-8")
    console(stderr=True).print(f"wrote {format} lineage ({len(lineage) + 1} nodes) to {output}",
                               markup=False)


# ---------------------------------------------------------------- the app


def build_app() -> typer.Typer:
    """The root Typer app with the core commands and every plugin's subcommands."""
    app = typer.Typer(cls=FlowlineageGroup, no_args_is_help=True, pretty_exceptions_enable=False,
                      context_settings={"help_option_names": HELP_OPTIONS})
    app.callback()(_root)
    app.command("init")(init_cmd)
    app.command("info")(info_cmd)
    app.command("demo")(demo_cmd)
    app.add_typer(runs_app, name="runs")
    app.add_typer(artifacts_app, name="artifacts")
    app.add_typer(collections_app, name="collections")
    app.add_typer(transforms_app, name="transforms")
    app.command("search")(search_cmd)
    app.command("lineage")(lineage_cmd)
    app.command("status")(status_cmd)
    app.command("check")(check_cmd)
    app.command("gc")(gc_cmd)
    app.command("ui")(ui_command)
    caller = get_plugin_manager().hook.flowlineage_register_commands
    for impl in caller.get_hookimpls():  # one by one: a broken plugin must not break the CLI
        try:
            impl.function(cli=app)
        except Exception as e:
            logger.warning("flowlineage plugin %r could not add commands: %s: %s",
                           impl.plugin_name, type(e).__name__, e)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``flowlineage`` console script; returns the exit code."""
    from typer.main import get_command

    return int(get_command(build_app()).main(args=argv, prog_name="flowlineage",
                                             standalone_mode=False))

"""The ``flowlineage`` command line (typer + rich).

``flowlineage init|info``, ``runs list|show|reap|delete``,
``artifacts list|show|delete|restore``, ``collections list|show``, ``transforms list|show``,
``search``, ``lineage``, ``status``, ``check``, ``gc``, ``demo``, ``ui`` and the subcommands
plugins add through ``flowlineage_register_commands``. User errors (any ``FlowlineageError``
and bad arguments) print one line and exit with code 2; ``--debug`` shows the traceback.

Start-up stays short: a command's module (and with it SQLAlchemy, rich, ...) is imported
only when that command runs, and plugins add their commands only when a name is not a core
command or when the commands are listed (``--help``); the root's help lists core commands
from ``COMMANDS`` without importing them.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator, MutableMapping, Sequence
from typing import Annotated, Any

import typer
from typer.core import TyperCommand, TyperGroup
from typer.main import get_command

from ..errors import FlowlineageError
from ..optional import load
from ..plugins import get_plugin_manager
from .state import STATE

logger = logging.getLogger("flowlineage.cli")
USER_ERROR = 2
INTERNAL_ERROR = 1
HELP_OPTIONS = ["-h", "--help"]

COMMANDS: dict[str, tuple[str, str, str]] = {
    # name: (module, attribute: a command function or a typer app, summary in the root's help)
    "init": (".instance", "init_cmd",
             "Create (or upgrade) the instance: database schema and default storage."),
    "info": (".instance", "info_cmd",
             "Show the instance: database, storage, record counts, plugins and adapters."),
    "demo": (".demo", "demo_cmd",
             "Run Snakemake, Nextflow, a tracked script and Prefect into one lineage, offline."),
    "search": (".search", "search_cmd",
               "Find transforms, runs, artifacts and collections by text, newest first."),
    "lineage": (".lineage", "lineage_cmd", "Draw the lineage of an artifact or a run."),
    "status": (".paths", "status_cmd", "Show each recorded file under PATH: unchanged, "
               "modified or missing, and which run wrote it."),
    "check": (".paths", "check_cmd", "Re-hash every location on this host and list those "
              "modified or missing (exit 1)."),
    "gc": (".gc", "gc_cmd", "Remove copies under each storage root's .flowlineage/ folder that "
           "no artifact references (trashed artifacts still do)."),
    "ui": ("..ui.cli", "ui_command",
           "Browse runs, artifacts and collections, with an interactive lineage graph."),
    "runs": (".records", "runs_app", "List, show, reap and delete runs."),
    "artifacts": (".records", "artifacts_app", "List, show, delete and restore artifacts."),
    "collections": (".records", "collections_app", "List and show collections."),
    "transforms": (".transforms", "transforms_app", "List and show transforms."),
}
"""The core commands, imported when they run; a test checks each summary against its
command's own help."""


class Commands(MutableMapping[str, Any]):
    """The root's subcommands by name: a core command is imported and built on first
    access, plugin commands are added when first needed (an unknown name, a listing)."""

    def __init__(self) -> None:
        self._built: dict[str, Any] = {}
        self._plugins: dict[str, Any] | None = None
        self.summaries = False
        """While True, unbuilt core commands are stand-ins carrying their summary (help)."""

    def plugins(self) -> dict[str, Any]:
        """The commands plugins add, each plugin's hook called once (a failing one logs a
        warning and adds nothing)."""
        if self._plugins is None:
            self._plugins = {n: c for n, c in _built(_register_plugin_commands).items()
                             if n not in COMMANDS}
        return self._plugins

    def __getitem__(self, name: str) -> Any:
        if name in self._built:
            return self._built[name]
        if name not in COMMANDS:
            return self.plugins()[name]
        module, attr, summary = COMMANDS[name]
        if self.summaries:
            return TyperCommand(name=name, help=summary)
        target = getattr(load(module, __package__), attr)
        if isinstance(target, typer.Typer):
            command = _built(lambda holder: holder.add_typer(target, name=name))[name]
        else:
            command = _built(lambda holder: holder.command(name)(target))[name]
        self._built[name] = command
        return command

    def __setitem__(self, name: str, command: Any) -> None:
        self._built[name] = command

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        yield from COMMANDS
        yield from (n for n in self._built if n not in COMMANDS)
        yield from (n for n in self.plugins() if n not in self._built)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _built(register: Callable[[typer.Typer], object]) -> dict[str, Any]:
    """The commands ``register`` adds to a Typer app, built as a sub-app's would be."""
    holder = typer.Typer(add_completion=False)
    holder.callback()(_holder)
    register(holder)
    return {n: _bare_flags(c) for n, c in getattr(get_command(holder), "commands", {}).items()}


def _holder() -> None:
    """Holds commands while they are built."""


def _register_plugin_commands(cli: typer.Typer) -> None:
    """Every plugin's ``flowlineage_register_commands``, one by one: a broken plugin must not
    break the CLI."""
    for impl in get_plugin_manager().hook.flowlineage_register_commands.get_hookimpls():
        try:
            impl.function(cli=cli)
        except Exception as e:
            logger.warning("flowlineage plugin %r could not add commands: %s: %s",
                           impl.plugin_name, type(e).__name__, e)


class FlowlineageGroup(TyperGroup):
    """The root command: imports a subcommand when it runs, and turns user errors into one
    line on stderr and exit code 2."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        given, self.commands = self.commands, Commands()
        self.commands.update(given)

    def list_commands(self, ctx: Any) -> list[str]:
        """Core commands, then the plugins' (without importing any core command)."""
        return list(self.commands)

    def format_help(self, ctx: Any, formatter: Any) -> None:
        """The help, listing core commands by their summaries (nothing imported)."""
        commands = self.commands
        assert isinstance(commands, Commands)
        commands.summaries = True
        try:
            super().format_help(ctx, formatter)
        finally:
            commands.summaries = False

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


def _bare_flags(command: Any) -> Any:
    """Show boolean flags as flags in help (``--json``, not ``--json <bool>``); returns the
    command. The root's own subcommands get this as they are built."""
    help_option = command.get_help_option(typer.Context(command,
                                                        help_option_names=HELP_OPTIONS))
    for param in [*command.params, *([help_option] if help_option is not None else [])]:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
    subs = getattr(command, "commands", {})
    for sub in ({} if isinstance(subs, Commands) else subs).values():
        _bare_flags(sub)
    return command


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


# ---------------------------------------------------------------- the app


def build_app() -> typer.Typer:
    """The root Typer app: the global options; its group finds the core commands and every
    plugin's subcommands when they are needed."""
    app = typer.Typer(cls=FlowlineageGroup, no_args_is_help=True, pretty_exceptions_enable=False,
                      context_settings={"help_option_names": HELP_OPTIONS})
    app.callback()(_root)
    return app


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``flowlineage`` console script; returns the exit code."""
    return int(get_command(build_app()).main(args=argv, prog_name="flowlineage",
                                             standalone_mode=False))

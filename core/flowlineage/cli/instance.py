"""``flowlineage init`` and ``flowlineage info``: create an instance and describe it."""

from __future__ import annotations

from importlib.metadata import version
from typing import Annotated, Any

import typer

from ..artifact.artifact import Artifact
from ..collection.collection import Collection
from ..db.enums import RunStatus
from ..plugins import get_plugin_manager
from ..run.run import Run
from ..run.transform import Transform
from ..storage.roots import Storage
from .common import cells, connect, console, print_json


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

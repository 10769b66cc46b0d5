"""``flowlineage gc``: remove stored copies no artifact references (left by failed or killed
saves) from the instance's storage roots."""

from __future__ import annotations

from typing import Annotated

import typer

from ..artifact.gc import collect_garbage
from ..render.graph import human_size
from .common import cells, connect, console, parse_duration, print_json, when
from .records import JsonOpt, table


def gc_cmd(
    grace: Annotated[str, typer.Option(
        "--grace", metavar="DURATION", help="Keep copies modified more recently than this "
        "(saves may still be writing them): 30m, 2h, 1d.")] = "24h",
    dry_run: Annotated[bool, typer.Option(
        "--dry-run", help="List what would be removed, with sizes; remove nothing.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Remove copies under each storage root's .flowlineage/ folder that no artifact
    references (trashed artifacts still do). Files kept in a root in place, or anywhere
    outside .flowlineage/, are never touched."""
    connect()
    garbage = collect_garbage(parse_duration(grace, "--grace"), dry_run=dry_run)
    total = sum(g.size for g in garbage)
    if as_json:
        print_json({"dry_run": dry_run, "files": len(garbage), "bytes": total,
                    "garbage": [{"path": g.path, "size": g.size, "modified": g.modified}
                                for g in garbage]})
        return
    if dry_run and garbage:
        out = table("path", "size", "modified")
        for g in garbage:
            out.add_row(*cells(g.path, human_size(g.size), when(g.modified)))
        console().print(out)
    verb = "would free" if dry_run else "freed"
    console(stderr=True).print(f"{len(garbage)} unreferenced file(s), {verb} "
                               f"{human_size(total)} ({total} bytes)", markup=False)

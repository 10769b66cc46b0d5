"""``flowlineage lineage``: draw where an artifact or a run came from, or where it went."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..render.formats import FORMATS, render
from .common import connect, console
from .paths import resolve_path_or_node


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

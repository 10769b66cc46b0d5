"""``flowlineage search TEXT``: runs, artifacts, collections and transforms by text."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy import func, or_

from ..artifact.artifact import Artifact
from ..collection.collection import Collection
from ..run.run import Run
from ..run.transform import Transform
from .common import cells, connect, console, print_json, when
from .records import JsonOpt, table

SEARCHED: list[tuple[str, Any, tuple[str, ...]]] = [  # kind, model, fields matched
    ("transform", Transform, ("uid", "key", "description", "reference")),
    ("run", Run, ("uid", "name", "description", "reference")),
    ("artifact", Artifact, ("uid", "key", "description")),
    ("collection", Collection, ("uid", "key", "description", "reference")),
]


def _label(kind: str, record: Any) -> str:
    if kind == "run":
        return record.name or f"{record.transform.key}" + (
            f" ({record.reference})" if record.reference else "")
    return str(record.key or record.description or "-")


def search_cmd(
    text: Annotated[str, typer.Argument(help="Matched, case-insensitively, anywhere in uids, "
                                        "keys, names, descriptions and references.")],
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many of each kind."
                                       )] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Find transforms, runs, artifacts and collections by text, newest first."""
    connect()
    needle = text.lower()
    hits: list[tuple[str, Any]] = []
    for kind, model, fields in SEARCHED:
        matches = or_(*(func.lower(getattr(model, f)).contains(needle, autoescape=True)
                        for f in fields))
        hits += [(kind, r) for r in model.filter(matches).order_by("-id").limit(limit).all()]
    if as_json:
        print_json([{"kind": kind, "id": r.id, "uid": r.uid, "label": _label(kind, r),
                     "description": r.description, "created_at": r.created_at}
                    for kind, r in hits])
        return
    if not hits:
        console().print(f"nothing matches {text!r}", markup=False)
        return
    rows = table("kind", "id", "uid", "key or name", "description", "created")
    for kind, r in hits:
        rows.add_row(*cells(kind, r.id, r.uid, _label(kind, r), r.description,
                            when(r.created_at)))
    console().print(rows)

"""``flowlineage search TEXT``: runs, artifacts, collections and transforms by text."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy import func, or_

from ..artifact.artifact import Artifact
from ..collection.collection import Collection
from ..run.run import Run
from ..run.transform import Transform
from .common import connect, console, when
from .records import JsonOpt, print_records

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
    if not hits and not as_json:
        console().print(f"nothing matches {text!r}", markup=False)
        return
    print_records(hits, as_json, lambda hit: {
        "kind": hit[0], "id": hit[1].id, "uid": hit[1].uid, "label": _label(*hit),
        "description": hit[1].description, "created_at": hit[1].created_at},
        ("kind", "id", "uid", "key or name", "description", "created"),
        lambda hit: (hit[0], hit[1].id, hit[1].uid, _label(*hit), hit[1].description,
                     when(hit[1].created_at)))

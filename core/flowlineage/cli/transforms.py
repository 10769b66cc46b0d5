"""``flowlineage transforms list|show``: the code that ran (scripts, flows, rules, processes)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from sqlalchemy import func, select

from ..db import tables
from ..run.transform import Transform
from .common import (
    cells,
    connect,
    console,
    key_lookup,
    print_json,
    record_dict,
    resolve,
    status_text,
    when,
)
from .records import JsonOpt, KeyOpt, LimitOpt, details, listing, print_records

RECENT_RUNS = 10

transforms_app = typer.Typer(help="List and show transforms.", no_args_is_help=True)


def _run_counts(ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    run = tables.run
    with connect().connection() as conn:
        rows = conn.execute(select(run.c.transform_id, func.count()).where(
            run.c.transform_id.in_(ids)).group_by(run.c.transform_id))
        return {int(tid): int(n) for tid, n in rows}


@transforms_app.command("list")
def transforms_list(
    key: KeyOpt = None,
    type: Annotated[str | None, typer.Option(
        "--type", help="script, notebook, pipeline, flow, task, rule, process or function.")
    ] = None,
    all_versions: Annotated[bool, typer.Option(
        "--all-versions", help="Include older versions, not only the latest.")] = False,
    limit: LimitOpt = 50,
    as_json: JsonOpt = False,
) -> None:
    """List transforms (latest versions), newest first, with their number of runs."""
    lookups: dict[str, Any] = key_lookup(key)
    if type is not None:
        lookups["type"] = type
    if not all_versions:
        lookups["is_latest"] = True
    connect()
    found = Transform.filter(**lookups).order_by("-id").limit(limit).all()
    counts = _run_counts([t.id for t in found])
    print_records(found, as_json, lambda t: {**record_dict(t), "runs": counts.get(t.id, 0)},
                  ("id", "uid", "key", "type", "version", "runs", "created"),
                  lambda t: (t.id, t.uid, t.key, t.type, t.version, counts.get(t.id, 0),
                             when(t.created_at)))


@transforms_app.command("show")
def transforms_show(
    transform_id: Annotated[str, typer.Argument(
        metavar="TRANSFORM", help="Id, uid, uid prefix or key (latest version).")],
    source: Annotated[bool, typer.Option("--source", help="Print its source code too.")
                      ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Show one transform: fields, versions and its most recent runs."""
    connect()
    tf = resolve(Transform, transform_id, by_key=True)
    runs = tf.runs.order_by("-id").limit(RECENT_RUNS).all()
    n_runs = tf.runs.count()
    versions = tf.versions.all()
    if as_json:
        print_json({**record_dict(tf), "source_code": tf.source_code if source else None,
                    "runs": n_runs, "recent_runs": [record_dict(r) for r in runs],
                    "versions": [{"uid": v.uid, "version": v.version,
                                  "is_latest": v.is_latest} for v in versions]})
        return
    details(f"Transform {tf.key}", [
        ("id", tf.id), ("uid", tf.uid), ("key", tf.key), ("type", tf.type),
        ("version", tf.version), ("latest", tf.is_latest), ("hash", tf.hash),
        ("reference", f"{tf.reference_type}: {tf.reference}" if tf.reference else None),
        ("description", tf.description), ("created by", tf.created_by),
        ("created", when(tf.created_at)), ("runs", n_runs),
    ])
    if len(versions) > 1:
        listing("versions", [v.uid + ("  (latest)" if v.is_latest else "") for v in versions])
    recent = console()
    if runs:
        recent.print(f"recent runs ({len(runs)} of {n_runs})", style="bold", markup=False)
        for r in runs:
            recent.print("  ", cells(r.uid)[0], "  ", status_text(r.status), "  ",
                         when(r.started_at), sep="")
    if source and tf.source_code:
        recent.print("source", style="bold", markup=False)
        recent.print(tf.source_code, markup=False, highlight=False)


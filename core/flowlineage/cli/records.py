"""``flowlineage runs|artifacts|collections ...``: list, show, reap, delete and restore."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from sqlalchemy import delete, select

from ..artifact.artifact import Artifact
from ..collection.collection import Collection
from ..db import tables
from ..db.engine import get_instance
from ..db.enums import RunStatus
from ..db.schema import utcnow
from ..errors import ValidationError
from ..plugins import hook, notify
from ..render.graph import human_size
from ..run.run import Run
from ..run.transform import Transform
from .common import (
    cells,
    connect,
    console,
    duration_text,
    key_lookup,
    parse_duration,
    print_json,
    record_dict,
    resolve_artifact,
    resolve_collection,
    resolve_run,
    status_text,
    when,
)

if TYPE_CHECKING:
    from rich.table import Table

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, help="Show at most this many.")]
KeyOpt = Annotated[str | None, typer.Option(
    "--key", help="Exact key; a trailing * matches a prefix (e.g. 'raw/*').")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]
T = TypeVar("T")


def table(*columns: str) -> Table:
    """A table for people, one column per name."""
    from rich.table import Table

    out = Table(show_edge=False, pad_edge=False, header_style="bold")
    for name in columns:
        out.add_column(name, overflow="fold")
    return out


def print_records(records: Sequence[T], as_json: bool, as_dict: Callable[[T], Any],
                  columns: Sequence[str], row: Callable[[T], Sequence[object]]) -> None:
    """A listing: one JSON object per record for scripts, else a table row per record."""
    if as_json:
        print_json([as_dict(r) for r in records])
        return
    out = table(*columns)
    for r in records:
        out.add_row(*cells(*row(r)))
    console().print(out)


def details(title: str, rows: list[tuple[str, Any]]) -> None:
    """A title, then one ``name  value`` line per row that has a value."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for name, value in rows:
        if value is not None and value != "":
            grid.add_row(*cells(name, value))
    out = console()
    out.print(title, style="bold", markup=False)
    out.print(grid)


def listing(title: str, lines: list[str]) -> None:
    """``title (n)`` and the lines indented, nothing when there are none."""
    if lines:
        out = console()
        out.print(f"{title} ({len(lines)})", style="bold", markup=False)
        for line in lines:
            out.print(f"  {line}", markup=False)


def confirm(what: str, yes: bool) -> None:
    """Go on with ``--yes`` or when the user agrees at a terminal; else stop, saying how."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise ValidationError(f"not confirmed: pass --yes to {what}")
    if not typer.confirm(f"{what[0].upper()}{what[1:]}?"):
        raise typer.Abort()


def _transforms(runs: list[Run]) -> dict[int, Transform]:
    ids = sorted({r.transform_id for r in runs})
    return {t.id: t for t in Transform.filter(id__in=ids).all()} if ids else {}


def _artifact_line(art: Artifact) -> str:
    return f"{art.uid}  {art.key or art.description or '-'}  {human_size(art.size)}".rstrip()


def _artifact_brief(art: Artifact) -> dict[str, Any]:
    return {"id": art.id, "uid": art.uid, "key": art.key, "size": art.size, "hash": art.hash}


def _run_brief(run: Run, tf: Transform | None = None) -> dict[str, Any]:
    tf = tf or run.transform
    return {"id": run.id, "uid": run.uid, "transform": tf.key, "status": run.status,
            "reference_type": run.reference_type, "reference": run.reference}


# ---------------------------------------------------------------- runs

runs_app = typer.Typer(help="List, show, reap and delete runs.", no_args_is_help=True)


@runs_app.command("list")
def runs_list(
    status: Annotated[list[str] | None, typer.Option(
        "--status", help="scheduled, restarted, started, completed, errored or aborted "
        "(repeatable).")] = None,
    reference_type: Annotated[str | None, typer.Option(
        "--reference-type", help="E.g. prefect_flow_run, snakemake_job, nextflow_task.")] = None,
    key: Annotated[str | None, typer.Option(
        "--key", help="Transform key; a trailing * matches a prefix (e.g. 'snakemake:*').")
    ] = None,
    limit: LimitOpt = 50,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first."""
    connect()
    lookups: dict[str, Any] = {f"transform__{k}": v for k, v in key_lookup(key).items()}
    if status:
        lookups["status__in"] = status
    if reference_type is not None:
        lookups["reference_type"] = reference_type
    runs = Run.filter(**lookups).order_by("-id").limit(limit).all()
    transforms = _transforms(runs)
    print_records(
        runs, as_json, lambda r: {**record_dict(r), "transform": transforms[r.transform_id].key},
        ("id", "uid", "transform", "status", "reference type", "started", "duration",
         "initiated by"),
        lambda r: (r.id, r.uid, transforms[r.transform_id].key, status_text(r.status),
                   r.reference_type, when(r.started_at),
                   duration_text(r.started_at, r.finished_at), r.initiated_by_run_id))


@runs_app.command("show")
def runs_show(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Id, uid or uid prefix.")],
    as_json: JsonOpt = False,
) -> None:
    """Show one run: transform, status, parameters, inputs, outputs and related runs."""
    connect()
    run = resolve_run(run_id)
    tf = run.transform
    inputs = run.input_artifacts.order_by("id").all()
    outputs = run.output_artifacts.order_by("id").all()
    recreated = run.recreated_artifacts.order_by("id").all()
    parent = run.initiated_by_run
    children = run.initiated_runs.count()
    features = run.features.get_values()
    if as_json:
        print_json({
            **record_dict(run),
            "transform": record_dict(tf),
            "initiated_by": _run_brief(parent) if parent else None,
            "initiated_runs": children,
            "inputs": [_artifact_brief(a) for a in inputs],
            "outputs": [_artifact_brief(a) for a in outputs],
            "recreated": [_artifact_brief(a) for a in recreated],
            "features": features,
        })
        return
    details(f"Run {run.uid}", [
        ("id", run.id), ("name", run.name), ("transform", f"{tf.key} ({tf.type}, {tf.uid})"),
        ("status", status_text(run.status)), ("started", when(run.started_at)),
        ("finished", when(run.finished_at) if run.finished_at else None),
        ("duration", duration_text(run.started_at, run.finished_at)),
        ("heartbeat", when(run.heartbeat_at) if run.heartbeat_at else None),
        ("reference", f"{run.reference_type}: {run.reference}" if run.reference else None),
        ("params", run.params), ("features", features or None), ("cli args", run.cli_args),
        ("created by", run.created_by),
        ("initiated by", f"{parent.uid} ({parent.transform.key})" if parent else None),
        ("initiated runs", children or None),
    ])
    listing("inputs", [_artifact_line(a) for a in inputs])
    listing("outputs", [_artifact_line(a) for a in outputs])
    listing("recreated", [_artifact_line(a) for a in recreated])


@runs_app.command("reap")
def runs_reap(
    older_than: Annotated[str, typer.Option(
        "--older-than", help="Silence after which a started run counts as dead: 30s, 10m, "
        "2h, 1d.")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only list the runs.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Mark runs still 'started' with no heartbeat for DURATION as aborted."""
    from sqlalchemy import func, update

    now = utcnow()
    cutoff = now - parse_duration(older_than)
    inst = connect()
    last_seen = func.coalesce(Run.heartbeat_at, Run.started_at)
    if dry_run:
        runs = Run.filter(last_seen < cutoff, status="started").order_by("id").all()
    else:
        with inst.write() as s:
            ids = list(s.scalars(
                update(Run).where(Run._status_code == RunStatus.started, last_seen < cutoff)
                .values(_status_code=RunStatus.aborted, finished_at=now)
                .returning(Run.id)))
        runs = Run.filter(id__in=ids).order_by("id").all() if ids else []
        for run in runs:
            notify(hook().flowlineage_run_finished, run=run)
    if as_json:
        print_json([record_dict(r) for r in runs])
        return
    transforms = _transforms(runs)
    verb = "would mark" if dry_run else "marked"
    rows = table("id", "uid", "transform", "started", "last heartbeat")
    for r in runs:
        rows.add_row(*cells(r.id, r.uid, transforms[r.transform_id].key, when(r.started_at),
                             when(r.heartbeat_at)))
    out = console()
    if runs:
        out.print(rows)
    out.print(f"{verb} {len(runs)} run(s) silent for more than {older_than} as aborted")


def _initiated_tree(root: int) -> list[int]:
    """``root`` and every run it initiated, directly or not."""
    run = tables.run
    ids, frontier = [root], [root]
    with get_instance().connection() as conn:
        while frontier:
            frontier = [i for i in conn.scalars(select(run.c.id).where(
                run.c.initiated_by_run_id.in_(frontier))) if i not in ids]
            ids += frontier
    return ids


@runs_app.command("delete")
def runs_delete(
    run_id: Annotated[str, typer.Argument(metavar="RUN", help="Id, uid or uid prefix.")],
    yes: YesOpt = False,
) -> None:
    """Delete a run and the runs it initiated, permanently: runs have no trash.

    The artifacts they created stay (without a creating run); their input links, features
    and result edges go with them.
    """
    inst = connect()
    run = resolve_run(run_id)
    ids = _initiated_tree(run.id)
    created = Artifact.filter(run_id__in=ids).count()
    initiated = f" and the {len(ids) - 1} run(s) it initiated" if len(ids) > 1 else ""
    kept = f" ({created} artifact(s) they created stay)" if created else ""
    confirm(f"permanently delete run {run.uid} ({run.transform.key}){initiated}{kept}", yes)
    with inst.write() as s:
        s.execute(delete(tables.run).where(tables.run.c.id.in_(ids)))
    console().print(f"deleted {len(ids)} run(s): {run.uid}{initiated}", markup=False)


# ---------------------------------------------------------------- artifacts

artifacts_app = typer.Typer(help="List, show, delete and restore artifacts.",
                            no_args_is_help=True)

ArtifactArg = Annotated[str, typer.Argument(
    metavar="ARTIFACT", help="Id, uid, uid prefix or key (latest version).")]


@artifacts_app.command("list")
def artifacts_list(
    key: KeyOpt = None,
    suffix: Annotated[str | None, typer.Option("--suffix", help="E.g. .csv")] = None,
    run: Annotated[str | None, typer.Option("--run", help="Created by this run (id/uid).")
                   ] = None,
    reference_type: Annotated[str | None, typer.Option(
        "--reference-type", help="Created by runs of this reference type.")] = None,
    all_versions: Annotated[bool, typer.Option(
        "--all-versions", help="Include older versions, not only the latest.")] = False,
    limit: LimitOpt = 50,
    as_json: JsonOpt = False,
) -> None:
    """List artifacts (latest versions), newest first."""
    connect()
    lookups: dict[str, Any] = key_lookup(key)
    if suffix is not None:
        lookups["suffix"] = suffix
    if run is not None:
        lookups["run_id"] = resolve_run(run).id
    if reference_type is not None:
        lookups["run__reference_type"] = reference_type
    if not all_versions:
        lookups["is_latest"] = True
    arts = Artifact.filter(**lookups).order_by("-id").limit(limit).all()
    print_records(arts, as_json, record_dict, ("id", "uid", "key", "size", "run", "created"),
                  lambda a: (a.id, a.uid, a.key or a.description, human_size(a.size), a.run_id,
                             when(a.created_at)))


@artifacts_app.command("show")
def artifacts_show(
    artifact_id: ArtifactArg,
    as_json: JsonOpt = False,
) -> None:
    """Show one artifact: storage, creating run, runs that read it, versions, collections."""
    connect()
    art = resolve_artifact(artifact_id)
    run = art.run
    used_by = art.input_of_runs.order_by("id").all()
    versions = art.versions.all()
    collections = art.collections.all()
    if as_json:
        print_json({
            **record_dict(art), "path": art.path, "storage": art.storage.root,
            "run": _run_brief(run) if run else None,
            "input_of_runs": [_run_brief(r) for r in used_by],
            "versions": [{"uid": v.uid, "is_latest": v.is_latest} for v in versions],
            "collections": [{"uid": c.uid, "key": c.key} for c in collections],
        })
        return
    details(f"Artifact {art.key or art.uid}", [
        ("id", art.id), ("uid", art.uid), ("key", art.key), ("description", art.description),
        ("size", human_size(art.size)), ("files", art.n_files), ("hash", art.hash),
        ("hash type", art._hash_type), ("path", art.path), ("type", art.otype),
        ("version", art.version), ("latest", art.is_latest), ("created", when(art.created_at)),
        ("in trash", True if art._branch_code != 1 else None),
        ("run", f"{run.uid} ({run.transform.key}, {run.status})" if run else None),
    ])
    transforms = _transforms(used_by)
    listing("input of runs", [f"{r.uid}  {transforms[r.transform_id].key}  {r.status}"
                               for r in used_by])
    if len(versions) > 1:
        listing("versions", [v.uid + ("  (latest)" if v.is_latest else "") for v in versions])
    listing("collections", [f"{c.uid}  {c.key or '-'}" for c in collections])


@artifacts_app.command("delete")
def artifacts_delete(
    artifact_id: ArtifactArg,
    permanent: Annotated[bool, typer.Option(
        "--permanent", help="Delete the record, and the bytes flowlineage copied into "
        "storage, instead of moving it to the trash.")] = False,
    yes: YesOpt = False,
) -> None:
    """Move an artifact to the trash (or, with --permanent, delete it)."""
    connect()
    art = resolve_artifact(artifact_id)
    name = f"artifact {art.uid}" + (f" ({art.key})" if art.key else "")
    if permanent:
        confirm(f"permanently delete {name}", yes)
    art.delete(permanent=permanent)
    console().print(f"deleted {name}" if permanent else f"moved {name} to the trash; "
                    f"'flowlineage artifacts restore {art.uid}' brings it back", markup=False)


@artifacts_app.command("restore")
def artifacts_restore(artifact_id: ArtifactArg) -> None:
    """Bring an artifact back from the trash."""
    connect()
    art = resolve_artifact(artifact_id)
    art.restore()
    console().print(f"restored artifact {art.uid}" + (f" ({art.key})" if art.key else ""),
                    markup=False)


# ---------------------------------------------------------------- collections

collections_app = typer.Typer(help="List and show collections.", no_args_is_help=True)


@collections_app.command("list")
def collections_list(key: KeyOpt = None, limit: LimitOpt = 50, as_json: JsonOpt = False
                     ) -> None:
    """List collections, newest first."""
    connect()
    cols = Collection.filter(**key_lookup(key)).order_by("-id").limit(limit).all()
    counts = {c.id: c.ordered_artifacts.count() for c in cols}
    print_records(cols, as_json, lambda c: {**record_dict(c), "n_artifacts": counts[c.id]},
                  ("id", "uid", "key", "artifacts", "run", "created"),
                  lambda c: (c.id, c.uid, c.key or c.description, counts[c.id], c.run_id,
                             when(c.created_at)))


@collections_app.command("show")
def collections_show(
    collection_id: Annotated[str, typer.Argument(
        metavar="COLLECTION", help="Id, uid, uid prefix or key (latest version).")],
    as_json: JsonOpt = False,
) -> None:
    """Show one collection and its artifacts in order."""
    connect()
    col = resolve_collection(collection_id)
    members = col.ordered_artifacts.all()
    run = col.run
    if as_json:
        print_json({**record_dict(col), "run": _run_brief(run) if run else None,
                    "artifacts": [_artifact_brief(a) for a in members]})
        return
    details(f"Collection {col.key or col.uid}", [
        ("id", col.id), ("uid", col.uid), ("key", col.key), ("description", col.description),
        ("hash", col.hash), ("version", col.version), ("latest", col.is_latest),
        ("reference", f"{col.reference_type}: {col.reference}" if col.reference else None),
        ("created", when(col.created_at)),
        ("run", f"{run.uid} ({run.transform.key}, {run.status})" if run else None),
    ])
    listing("artifacts", [_artifact_line(a) for a in members])

"""Every database read of the UI, returning JSON-ready dicts (the API serves them as they are).

The only module of ``flowlineage.ui`` that imports flowlineage internals: when the core
package moves, remap the imports at the top of this file.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import Select, and_, func, literal, not_, or_, select, true
from sqlalchemy.orm import aliased

from ..artifact.artifact import Artifact
from ..cli.common import connect as _cli_connect
from ..collection.collection import Collection
from ..db.engine import get_instance
from ..db.enums import Branch, RunStatus
from ..db.tables import collection_artifact, run_input_artifact
from ..db.tables import run_feature_value as RunFeatureValue
from ..db.upserts import feature_values
from ..errors import DoesNotExist, FlowlineageError, ValidationError
from ..lineage.walk import Lineage
from ..plugins import PYTHON, Adapter, adapters, orchestrator_of
from ..run.run import Run
from ..run.transform import Transform

MAIN, TRASH = Branch.main, Branch.trash
STATUS_CODES = {s.name: int(s) for s in RunStatus}
STATUS_NAMES = {int(s): s.name for s in RunStatus}

STATUSES = tuple(STATUS_CODES)
PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
MAX_TREE = 1000
MAX_GRAPH_NODES = 5000
PREVIEW_BYTES = 64 * 1024
PREVIEW_LINES = 20
TEXT_SUFFIXES = frozenset({".csv", ".tsv", ".txt", ".json", ".md", ".yaml", ".yml", ".log",
                           ".fasta", ".fa", ".fastq", ".vcf", ".bed", ".gtf", ".gff", ".sam",
                           ".toml", ".ini", ".cfg", ".xml", ".html", ".py", ".r", ".sh",
                           ".nf", ".smk", ".config"})
Kind = Literal["run", "artifact", "collection"]

__all__ = ["DoesNotExist", "FlowlineageError", "ValidationError", "connect_cli"]


def connect_cli() -> None:
    """Connect as the CLI does (``--db`` / ``--storage``, else the environment's defaults)."""
    _cli_connect()


# ---------------------------------------------------------------- helpers


def iso(value: datetime | None) -> str | None:
    """A timestamp as ISO 8601 text (UTC), or None."""
    return None if value is None else value.astimezone(UTC).isoformat(timespec="seconds")


def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    """Seconds from ``start`` to ``end``, or None if either is missing."""
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def parse_time(text: str | None, name: str) -> datetime | None:
    """An ISO date or timestamp from a query parameter (naive means UTC)."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(f"{name} must be an ISO date or time, not {text!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _read() -> Any:
    return get_instance().read()


def _run_brief(run: Any, tf_key: str, tf_type: str | None = None) -> dict[str, Any]:
    """The columns of a run shown in lists and trees."""
    status = STATUS_NAMES.get(run._status_code, str(run._status_code))
    return {
        "uid": run.uid, "name": run.name, "transform": tf_key, "transform_type": tf_type,
        "status": status, "orchestrator": orchestrator_of(run.reference_type, tf_key),
        "reference_type": run.reference_type, "reference": run.reference,
        "started_at": iso(run.started_at), "finished_at": iso(run.finished_at),
        "duration_s": seconds_between(run.started_at, run.finished_at),
    }


def _artifact_brief(art: Any) -> dict[str, Any]:
    return {
        "uid": art.uid, "key": art.key, "description": art.description, "suffix": art.suffix,
        "kind": art.kind, "size": art.size, "version": art.version, "is_latest": art.is_latest,
        "created_at": iso(art.created_at), "in_trash": art._branch_code != MAIN,
    }


def _collection_brief(coll: Any) -> dict[str, Any]:
    return {"uid": coll.uid, "key": coll.key, "description": coll.description,
            "version": coll.version, "is_latest": coll.is_latest,
            "created_at": iso(coll.created_at)}


def _transform_brief(tf: Any) -> dict[str, Any]:
    return {"uid": tf.uid, "key": tf.key, "version": tf.version, "type": tf.type,
            "reference": tf.reference, "reference_type": tf.reference_type,
            "description": tf.description, "is_latest": tf.is_latest,
            "created_at": iso(tf.created_at)}


def _runs_with_transforms(stmt: Select[Any]) -> list[dict[str, Any]]:
    with _read() as s:
        return [_run_brief(run, key, ttype) for run, key, ttype in s.execute(stmt)]


def _run_select() -> Select[Any]:
    return select(Run, Transform.key, Transform.type).join(Transform,
                                                            Transform.id == Run.transform_id)


# ---------------------------------------------------------------- lists


@dataclass
class RunFilter:
    """Filters of ``/runs``; ``cursor`` is the id below which the page starts (keyset)."""

    status: str | None = None
    orchestrator: str | None = None
    transform: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    q: str | None = None
    cursor: int | None = None
    limit: int = PAGE_SIZE

    def clauses(self) -> list[Any]:
        """The WHERE clauses of these filters (run joined with its transform)."""
        out: list[Any] = []
        if self.status:
            if self.status not in STATUS_CODES:
                raise ValidationError(f"status must be one of {', '.join(STATUSES)}")
            out.append(Run._status_code == STATUS_CODES[self.status])
        if self.orchestrator:
            out.append(_orchestrator_clause(self.orchestrator))
        if self.transform:
            out.append(or_(Transform.key == self.transform, Transform.uid == self.transform))
        if self.since is not None:
            out.append(Run.started_at >= self.since)
        if self.until is not None:
            out.append(Run.started_at < self.until)
        if self.q:
            q = self.q.strip()
            out.append(or_(Run.uid.startswith(q, autoescape=True),
                           Run.name.contains(q, autoescape=True),
                           Run.reference.contains(q, autoescape=True),
                           Transform.key.contains(q, autoescape=True)))
        return out


def orchestrators() -> list[str]:
    """The orchestrators the installed adapters declare, then plain scripts (``python``)."""
    return [*dict.fromkeys(a.orchestrator for a in adapters()), PYTHON.orchestrator]


def _orchestrator_clause(name: str) -> Any:
    """Runs ``plugins.orchestrator_of`` attributes to ``name``, as a SQL condition."""
    def ran_by(adapter: Adapter) -> Any:
        o = adapter.orchestrator
        return or_(Run.reference_type.in_(adapter.reference_types),
                   Run.reference_type.startswith(o, autoescape=True),
                   Transform.key.startswith(o + ":", autoescape=True))

    known = orchestrators()
    if name not in known:
        raise ValidationError(f"orchestrator must be one of {', '.join(known)}")
    claimed: list[Any] = []
    for adapter in adapters():  # the first adapter claiming a run owns it
        owns = ran_by(adapter)
        if adapter.orchestrator == name:
            return and_(owns, *claimed)
        claimed.append(not_(func.coalesce(owns, False)))
    return and_(true(), *claimed)


def _page_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError(f"limit must be between 1 and {MAX_PAGE_SIZE}")
    return limit


def _newest_first(stmt: Select[Any], model: Any, clauses: list[Any], cursor: int | None,
                  limit: int, counted: Select[Any] | None = None
                  ) -> tuple[list[Any], int, int | None]:
    """One keyset page of ``stmt``'s rows (a ``model`` record first in each): newest first,
    older than ``cursor``, at most ``limit``; with the total count and the next cursor."""
    limit = _page_limit(limit)
    if cursor is not None:
        stmt = stmt.where(model.id < cursor)
    if counted is None:
        counted = select(func.count()).select_from(model)
    with _read() as s:
        found = list(s.execute(stmt.where(*clauses).order_by(model.id.desc()).limit(limit + 1)))
        total = int(s.execute(counted.where(*clauses)).scalar_one())
    return found[:limit], total, found[limit - 1][0].id if len(found) > limit else None


def list_runs(f: RunFilter) -> dict[str, Any]:
    """One page of runs, newest first, with the total count and the next page's cursor."""
    counted = select(func.count()).select_from(Run).join(Transform,
                                                         Transform.id == Run.transform_id)
    rows, total, cursor = _newest_first(_run_select(), Run, f.clauses(), f.cursor, f.limit,
                                        counted)
    return {"total": total, "runs": [_run_brief(run, key, tt) for run, key, tt in rows],
            "next_cursor": cursor}


def list_artifacts(q: str | None = None, suffix: str | None = None, cursor: int | None = None,
                   limit: int = PAGE_SIZE) -> dict[str, Any]:
    """One page of artifacts (trash hidden), newest first."""
    clauses: list[Any] = [Artifact._branch_code == MAIN]
    if q:
        clauses.append(or_(Artifact.uid.startswith(q.strip(), autoescape=True),
                           Artifact.key.contains(q.strip(), autoescape=True),
                           Artifact.description.contains(q.strip(), autoescape=True)))
    if suffix:
        clauses.append(Artifact.suffix == suffix)
    rows, total, next_cursor = _newest_first(select(Artifact), Artifact, clauses, cursor, limit)
    return {"total": total, "artifacts": [_artifact_brief(a) for a, in rows],
            "next_cursor": next_cursor}


def list_collections(q: str | None = None, cursor: int | None = None,
                     limit: int = PAGE_SIZE) -> dict[str, Any]:
    """One page of collections (trash hidden), newest first."""
    clauses: list[Any] = [Collection._branch_code == MAIN]
    if q:
        clauses.append(or_(Collection.uid.startswith(q.strip(), autoescape=True),
                           Collection.key.contains(q.strip(), autoescape=True)))
    rows, total, next_cursor = _newest_first(select(Collection), Collection, clauses, cursor,
                                             limit)
    return {"total": total, "collections": [_collection_brief(c) for c, in rows],
            "next_cursor": next_cursor}


def list_transforms(q: str | None = None, cursor: int | None = None,
                    limit: int = PAGE_SIZE) -> dict[str, Any]:
    """One page of transforms with their run counts, newest first."""
    clauses: list[Any] = []
    if q:
        clauses.append(or_(Transform.uid.startswith(q.strip(), autoescape=True),
                           Transform.key.contains(q.strip(), autoescape=True)))
    n_runs = (select(func.count()).select_from(Run).where(Run.transform_id == Transform.id)
              .scalar_subquery())
    rows, total, next_cursor = _newest_first(select(Transform, n_runs), Transform, clauses,
                                             cursor, limit)
    return {"total": total,
            "transforms": [_transform_brief(tf) | {"n_runs": int(n)} for tf, n in rows],
            "next_cursor": next_cursor}


def transform_keys(limit: int = 200) -> list[str]:
    """Distinct transform keys for the runs filter (at most ``limit``)."""
    with _read() as s:
        return list(s.scalars(select(Transform.key).distinct().order_by(Transform.key)
                              .limit(limit)))


# ---------------------------------------------------------------- runs


def _get(model: Any, uid: str) -> Any:
    """A record by uid; trashed artifacts and collections still have a page."""
    query = model.filter(uid=uid)
    if hasattr(model, "_branch_code"):
        query = model.filter(uid=uid, _branch_code__in=[MAIN, TRASH])
    found = query.first()
    if found is None:
        raise DoesNotExist(f"no {model.__name__.lower()} with uid {uid!r}")
    return found


def run_detail(uid: str) -> dict[str, Any]:
    """Everything ``/runs/{uid}`` shows: fields, params, features, inputs, outputs, children."""
    run: Run = _get(Run, uid)
    tf = Transform.get(run.transform_id)
    out = _run_brief(run, tf.key, tf.type)
    out |= {
        "description": run.description, "entrypoint": run.entrypoint,
        "created_by": run.created_by, "created_at": iso(run.created_at),
        "heartbeat_at": iso(run.heartbeat_at), "params": run.params or {},
        "cli_args": run.cli_args, "transform_uid": tf.uid, "transform_version": tf.version,
    }
    with _read() as s:
        found = feature_values(s.execute(
            select(RunFeatureValue.c.name, RunFeatureValue.c.dtype, RunFeatureValue.c.value)
            .where(RunFeatureValue.c.run_id == run.id)).tuples())
        out["features"] = dict(sorted(found.items()))
        report_env = {aid: a for aid, a in (
            (a.id, a) for a in s.scalars(select(Artifact).where(
                Artifact.id.in_([i for i in (run.report_id, run.environment_id) if i]))))}
    out["report"] = _artifact_brief(report_env[run.report_id]) if run.report_id else None
    out["environment"] = (_artifact_brief(report_env[run.environment_id])
                          if run.environment_id else None)
    parent = run.initiated_by_run_id
    out["initiated_by"] = None if parent is None else _runs_with_transforms(
        _run_select().where(Run.id == parent))[0]
    out["inputs"] = [_artifact_brief(a) for a in run.input_artifacts.order_by("id").limit(500)]
    out["input_collections"] = [_collection_brief(c) for c in run.input_collections.limit(500)]
    out["outputs"] = [_artifact_brief(a)
                      for a in run.output_artifacts.order_by("id").limit(500)]
    out["output_collections"] = [_collection_brief(c) for c in run.output_collections.limit(500)]
    out["initiated_runs"] = initiated_tree(run.id)
    return out


def initiated_tree(run_id: int, limit: int = MAX_TREE) -> list[dict[str, Any]]:
    """Runs started by a run, recursively, as a forest (``children`` lists), oldest first.

    Each node has ``depth`` (1 for direct children) and ``offset_s`` (start relative to the
    earliest start), which the page draws as a Gantt timeline.
    """
    tree = select(Run.id.label("id"), Run.initiated_by_run_id.label("parent"),
                  literal(1).label("depth")).where(
        Run.initiated_by_run_id == run_id).cte("tree", recursive=True)
    child = aliased(Run)
    tree = tree.union_all(select(child.id, child.initiated_by_run_id, tree.c.depth + 1)
                          .join(tree, child.initiated_by_run_id == tree.c.id)
                          .where(tree.c.depth < 20))
    stmt = (_run_select().add_columns(tree.c.parent, tree.c.depth)
            .join(tree, tree.c.id == Run.id).order_by(Run.started_at, Run.id).limit(limit))
    nodes: dict[int, dict[str, Any]] = {}
    roots: list[dict[str, Any]] = []
    with _read() as s:
        rows = list(s.execute(stmt))
    starts = [r[0].started_at for r in rows if r[0].started_at is not None]
    origin = min(starts) if starts else None
    for run, key, ttype, parent, depth in rows:
        node = _run_brief(run, key, ttype) | {
            "depth": depth, "children": [],
            "offset_s": seconds_between(origin, run.started_at)}
        nodes[run.id] = node
        (nodes[parent]["children"] if parent in nodes else roots).append(node)
    return roots


# ---------------------------------------------------------------- artifacts and others


def artifact_detail(uid: str) -> dict[str, Any]:
    """Everything ``/artifacts/{uid}`` shows: fields, versions, runs, collections, preview."""
    art: Artifact = _get(Artifact, uid)
    out = _artifact_brief(art) | {"hash": art.hash, "n_files": art.n_files,
                                  "otype": art.otype, "updated_at": iso(art.updated_at)}
    out["path"] = art.path
    out["run"] = None if art.run_id is None else _runs_with_transforms(
        _run_select().where(Run.id == art.run_id))[0]
    consumers = select(run_input_artifact.c.run_id).where(
        run_input_artifact.c.artifact_id == art.id)
    out["input_of_runs"] = _runs_with_transforms(
        _run_select().where(Run.id.in_(consumers)).order_by(Run.id).limit(500))
    recreating = art.recreating_runs.limit(500).all()
    out["recreating_runs"] = [r.uid for r in recreating]
    out["collections"] = [_collection_brief(c) for c in art.collections.limit(500)]
    out["versions"] = [_artifact_brief(v) for v in art.versions.limit(200)]
    locations = getattr(art, "locations", None)
    out["locations"] = None if locations is None else [str(x) for x in _as_list(locations)]
    out["preview"] = preview(art)
    return out


def _as_list(value: Any) -> list[Any]:
    value = value() if callable(value) else value
    return list(value.all() if hasattr(value, "all") else value)


def preview(art: Artifact) -> dict[str, Any] | None:
    """The head of a text, CSV/TSV or parquet artifact: ``{"kind": "table"|"text", ...}``."""
    suffix = (art.suffix or "").lower()
    if art.n_files is not None and art.n_files > 1:
        return None
    try:
        if suffix == ".parquet":
            return _parquet_head(art)
        if suffix not in TEXT_SUFFIXES:
            return None
        with art.open("rb", is_run_input=False) as handle:
            head = handle.read(PREVIEW_BYTES)
    except (OSError, FlowlineageError, ValueError) as e:
        return {"kind": "error", "text": f"preview unavailable: {type(e).__name__}"}
    text = head.decode("utf-8", errors="replace")
    lines = text.splitlines()[:PREVIEW_LINES]
    if suffix in (".csv", ".tsv"):
        rows = list(csv.reader(io.StringIO("\n".join(lines)),
                               delimiter="\t" if suffix == ".tsv" else ","))
        if rows:
            return {"kind": "table", "columns": rows[0], "rows": rows[1:]}
    return {"kind": "text", "text": "\n".join(lines),
            "truncated": len(head) == PREVIEW_BYTES or len(text.splitlines()) > PREVIEW_LINES}


def _parquet_head(art: Artifact) -> dict[str, Any] | None:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return None
    with art.open("rb", is_run_input=False) as handle:
        pf = pq.ParquetFile(handle)
        batch = next(pf.iter_batches(batch_size=PREVIEW_LINES), None)
        if batch is None:
            return {"kind": "table", "columns": list(pf.schema_arrow.names), "rows": []}
        table = batch.to_pydict()
    columns = list(table)[:30]
    n = len(table[columns[0]]) if columns else 0
    return {"kind": "table", "columns": columns,
            "rows": [[str(table[c][i]) for c in columns] for i in range(n)]}


def collection_detail(uid: str) -> dict[str, Any]:
    """Everything ``/collections/{uid}`` shows: fields, members, runs, versions."""
    coll: Collection = _get(Collection, uid)
    out = _collection_brief(coll) | {"hash": coll.hash, "reference": coll.reference,
                                     "reference_type": coll.reference_type}
    with _read() as s:
        members = list(s.scalars(
            select(Artifact).join(collection_artifact,
                                  collection_artifact.c.artifact_id == Artifact.id)
            .where(collection_artifact.c.collection_id == coll.id)
            .order_by(collection_artifact.c.order).limit(1000)))
    out["artifacts"] = [_artifact_brief(a) for a in members]
    out["n_artifacts"] = len(members)
    meta = coll.meta_artifact
    out["meta_artifact"] = None if meta is None else _artifact_brief(meta)
    out["run"] = None if coll.run_id is None else _runs_with_transforms(
        _run_select().where(Run.id == coll.run_id))[0]
    out["input_of_runs"] = [r.uid for r in coll.input_of_runs.limit(500)]
    out["versions"] = [_collection_brief(v) for v in coll.versions.limit(200)]
    return out


def transform_detail(uid: str) -> dict[str, Any]:
    """Everything ``/transforms/{uid}`` shows: fields, source, versions and latest runs."""
    tf: Transform = _get(Transform, uid)
    out = _transform_brief(tf) | {"hash": tf.hash, "source_code": tf.source_code,
                                  "created_by": tf.created_by}
    out["versions"] = [_transform_brief(v) for v in tf.versions.limit(200)]
    out["runs"] = _runs_with_transforms(
        _run_select().where(Run.transform_id == tf.id).order_by(Run.id.desc()).limit(100))
    with _read() as s:
        out["n_runs"] = int(s.execute(select(func.count()).select_from(Run)
                                      .where(Run.transform_id == tf.id)).scalar_one())
    return out


# ---------------------------------------------------------------- lineage graphs


@dataclass
class _GraphBuilder:
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: set[tuple[str, str, str]] = field(default_factory=set)

    def add(self, info: dict[str, Any]) -> None:
        old = self.nodes.get(info["id"])
        if old is None or old["depth"] > info["depth"]:
            self.nodes[info["id"]] = info


def lineage_graph(kind: str, uid: str, direction: str = "both",
                  depth: int | None = 3) -> dict[str, Any]:
    """The lineage around a run, artifact or collection, in ``render``'s JSON graph shape.

    ``direction`` is ``up``, ``down`` or ``both``; ``depth`` limits hops (None: no limit).
    Graphs larger than ``MAX_GRAPH_NODES`` keep the nearest nodes and set ``truncated``.
    """
    if direction not in ("up", "down", "both", "upstream", "downstream"):
        raise ValidationError("direction must be up, down or both")
    if depth is not None and not 0 <= depth <= 1000:
        raise ValidationError("depth must be between 0 and 1000")
    models = {"run": Run, "artifact": Artifact, "collection": Collection}
    if kind not in models:
        raise ValidationError("kind must be run, artifact or collection")
    record = _get(models[kind], uid)
    walks: list[Lineage] = []
    if direction in ("both", "up", "upstream"):
        walks.append(record.upstream(depth))
    if direction in ("both", "down", "downstream"):
        walks.append(record.downstream(depth))
    g = _GraphBuilder()
    start_id = f"{kind}:{record.id}"
    if kind == "collection":
        n = sum(getattr(w, "n_artifacts", 0) for w in walks[:1])
        g.add({"id": start_id, "kind": "collection", "uid": record.uid,
               "label": record.key or record.description or record.uid, "hash": record.hash,
               "n_artifacts": n, "depth": 0})
    runs: list[tuple[Any, int]] = [(record, 0)] if kind == "run" else []
    arts: list[tuple[Any, int]] = [(record, 0)] if kind == "artifact" else []
    for w in walks:
        runs += w.runs
        arts += w.artifacts
        walked = w.edges() if kind == "collection" else w.all_edges
        g.edges.update((f"{s[0]}:{s[1]}", f"{t[0]}:{t[1]}", k) for s, t, k in walked)
    truncated = len(runs) + len(arts) > MAX_GRAPH_NODES
    if truncated:
        keep = sorted(runs + arts, key=lambda x: x[1])[:MAX_GRAPH_NODES]
        runs = [x for x in keep if isinstance(x[0], Run)]
        arts = [x for x in keep if isinstance(x[0], Artifact)]
    tf_ids = {r.transform_id for r, _ in runs}
    with _read() as s:
        tfs = {i: (k, t) for i, k, t in s.execute(
            select(Transform.id, Transform.key, Transform.type).where(Transform.id.in_(tf_ids)))}
    for run, d in runs:
        key, ttype = tfs[run.transform_id]
        g.add({"id": f"run:{run.id}", "kind": "run", "uid": run.uid, "label": key,
               "transform_type": ttype, "status": STATUS_NAMES.get(run._status_code),
               "reference_type": run.reference_type, "reference": run.reference,
               "orchestrator": orchestrator_of(run.reference_type, key), "depth": d})
    for art, d in arts:
        g.add({"id": f"artifact:{art.id}", "kind": "artifact", "uid": art.uid,
               "label": art.key or art.description or art.uid, "hash": art.hash,
               "size": art.size, "depth": d})
    edges = sorted(e for e in g.edges if e[0] in g.nodes and e[1] in g.nodes)
    return {
        "start": {"kind": kind, "id": record.id},
        "direction": {"up": "upstream", "down": "downstream"}.get(direction, direction),
        "nodes": list(g.nodes.values()),
        "edges": [{"source": s, "target": t, "kind": k} for s, t, k in edges],
        "truncated": truncated,
    }


def store_url() -> str:
    """The connected database URL, password hidden."""
    return str(get_instance().url)

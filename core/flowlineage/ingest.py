"""Idempotent bulk helpers adapters use to record runs and links (they never write SQL).

Runs are keyed by ``(reference_type, reference)``; writing the same run twice updates it
instead of duplicating it, which makes every adapter's ingestion idempotent.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, select, update

from . import ids
from .hashing import hash_bytes
from .schema import utcnow

if TYPE_CHECKING:
    from .models import Project, Run, Transform

RUN_UPDATABLE = (
    "name", "description", "transform_id", "entrypoint", "started_at", "finished_at", "params",
    "cli_args", "initiated_by_run_id", "_status_code", "heartbeat_at", "created_by",
)


def get_or_create_transform(
    key: str,
    type: str = "script",
    source_code: str | None = None,
    version: str | None = None,
    reference: str | None = None,
    reference_type: str | None = None,
    description: str | None = None,
) -> Transform:
    """The transform with this key and source; changed source makes a new version.

    A transform is identified by ``key`` plus the hash of its source (or ``version`` when
    there is no source); the newest version of a key has ``is_latest``.
    """
    from .instance import get_instance
    from .models import Transform

    digest = hash_bytes(source_code.encode()) if source_code is not None else None
    inst = get_instance()
    with inst.read() as s:
        family = list(s.scalars(select(Transform).where(Transform.key == key)
                                .order_by(Transform.uid)))
    for tf in family:
        if tf.hash == digest and tf.version == version and tf.type == type:
            return tf
    with inst.write() as s:  # re-read inside the write lock: another writer may have won
        family = list(s.scalars(select(Transform).where(Transform.key == key)
                                .order_by(Transform.uid)))
        for tf in family:
            if tf.hash == digest and tf.version == version and tf.type == type:
                return tf
        if family:
            stem = family[0].uid[:12]
            uid = stem + ids.next_version_suffix(max(t.uid for t in family)[12:])
            s.execute(update(Transform).where(Transform.key == key).values(is_latest=False))
        else:
            uid = ids.new_uid(12, True)
        tf = Transform(
            uid=uid, key=key, type=type, source_code=source_code, hash=digest, version=version,
            reference=reference, reference_type=reference_type, description=description,
            is_latest=True, created_at=utcnow(),
        )
        s.add(tf)
        s.flush()  # give tf its id inside a caller's open transaction
    return tf


def upsert_runs(rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Insert or update runs keyed by ``(reference_type, reference)``; return their ids.

    Each row holds Run column values (``transform_id``, ``reference_type`` and ``reference``
    required; ``status`` may be given by name). Runs in one call are written in one
    transaction; calling again with the same rows changes nothing.
    """
    from .instance import get_instance
    from .models import Run, status_code

    inst = get_instance()
    now = utcnow()
    prepared = []
    for row in rows:
        row = dict(row)
        if "status" in row:
            row["_status_code"] = status_code(row.pop("status"))
        if "uid" not in row:
            row["uid"] = ids.base62(16)
        row.setdefault("created_at", now)
        row.setdefault("_status_code", -3)
        prepared.append(row)
    if not prepared:
        return {}
    keys = [(r["reference_type"], r["reference"]) for r in prepared]
    result: dict[tuple[str, str], int] = {}
    with inst.write() as s:
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for r in prepared:
            by_columns.setdefault(tuple(sorted(r)), []).append(r)
        for columns, group in by_columns.items():
            stmt = _upsert_statement(inst.dialect, "run", columns)
            for start in range(0, len(group), 2000):
                s.execute(stmt, group[start : start + 2000])
        by_type: dict[str, list[str]] = {}
        for rt, ref in keys:  # one reference_type per query: an index search, not a scan
            by_type.setdefault(rt, []).append(ref)
        for rt, refs in by_type.items():
            for start in range(0, len(refs), 500):
                for ref, rid in s.execute(select(Run.reference, Run.id).where(
                        Run.reference_type == rt, Run.reference.in_(refs[start : start + 500]))):
                    result[(rt, ref)] = rid
    return result


@cache
def _upsert_statement(dialect: str, table_name: str, columns: tuple[str, ...]) -> Any:
    """``INSERT … ON CONFLICT DO UPDATE`` of ``columns``, built once per column set so
    SQLAlchemy compiles it once (building ``excluded`` proxies is costly)."""
    from .models import Run, RunFeatureValue

    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
    if table_name == "run":
        stmt = dialect_insert(cast(Table, Run.__table__))
        updatable = [c for c in columns if c in RUN_UPDATABLE]
        if not updatable:
            return stmt.on_conflict_do_nothing()
        return stmt.on_conflict_do_update(
            index_elements=["reference_type", "reference"], index_where=None,
            set_={c: stmt.excluded[c] for c in updatable})
    stmt = dialect_insert(cast(Table, RunFeatureValue.__table__))
    return stmt.on_conflict_do_update(
        index_elements=["run_id", "name"],
        set_={c: stmt.excluded[c] for c in ("dtype", "value", "value_num")})


def link_run_inputs(pairs: Iterable[tuple[int, int]]) -> None:
    """Link ``(run_id, artifact_id)`` pairs as run inputs (idempotent)."""
    from .models import run_input_artifact

    _link_pairs(run_input_artifact, "run_id", "artifact_id", pairs, {"created_at": utcnow()})


def link_recreated(pairs: Iterable[tuple[int, int]]) -> None:
    """Link ``(run_id, artifact_id)`` pairs as 'run recreated artifact' (idempotent)."""
    from .models import artifact_recreating_run

    _link_pairs(artifact_recreating_run, "run_id", "artifact_id", pairs, {"created_at": utcnow()})


def _link_pairs(table: Any, left: str, right: str, pairs: Iterable[tuple[int, int]],
                extra: dict[str, Any]) -> None:
    from .instance import get_instance, insert_ignore

    rows = [{left: a, right: b, **extra} for a, b in dict.fromkeys(pairs)]
    if not rows:
        return
    inst = get_instance()
    with inst.write() as s:
        for start in range(0, len(rows), 2000):
            s.execute(insert_ignore(inst.dialect, table), rows[start : start + 2000])


def link_projects(run: Run, projects: Iterable[Project | str]) -> None:
    """Put a run in projects (created by name when given as strings)."""
    from .instance import get_instance, insert_ignore
    from .models import Project, run_project

    inst = get_instance()
    project_ids = []
    for p in projects:
        if isinstance(p, str):
            with inst.write() as s:
                s.execute(insert_ignore(inst.dialect, Project.__table__).values(
                    uid=ids.base62(12), name=p, created_at=utcnow()))
            p = Project.get(name=p)
        project_ids.append(p.id)
    with inst.write() as s:
        for pid in project_ids:
            s.execute(insert_ignore(inst.dialect, run_project).values(run_id=run.id,
                                                                       project_id=pid))


def set_run_features(values_by_run: dict[int, dict[str, Any]]) -> None:
    """Set typed feature values of runs in one transaction (replacing same-named values)."""
    from .instance import get_instance

    rows = []
    for run_id, values in values_by_run.items():
        for name, value in values.items():
            rows.append({
                "run_id": run_id, "name": name, "dtype": _dtype(value), "value": value,
                "value_num": float(value) if isinstance(value, int | float)
                and not isinstance(value, bool) else None,
            })
    if not rows:
        return
    inst = get_instance()
    stmt = _upsert_statement(inst.dialect, "run_feature_value", ())
    with inst.write() as s:
        for start in range(0, len(rows), 2000):
            s.execute(stmt, rows[start : start + 2000])


def _dtype(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "json"


def register_artifacts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Record artifacts whose content hash is already known, without reading their bytes.

    For orchestrator records that carry checksums (e.g. Nextflow's lineage store) and for
    bulk loads. Each row needs ``hash``, ``_hash_type``, ``storage_id`` and ``_storage_key``
    (the path under the storage root); ``key``, ``size``, ``suffix``, ``run_id``, ``n_files``,
    ``kind`` and ``description`` are optional. Existing hashes are left as they are
    (idempotent). Returns the artifact id of every hash.
    """
    from .instance import get_instance, insert_ignore
    from .models import Artifact
    from .storage import validate_key

    inst = get_instance()
    now = utcnow()
    prepared = []
    for row in rows:
        validate_key(row["_storage_key"])
        if row.get("key") is not None:
            validate_key(row["key"])
        prepared.append({
            "uid": ids.new_uid(16, True), "key": None, "description": None, "suffix": "",
            "kind": None, "otype": None, "size": None, "n_files": None, "run_id": None,
            "version": None, "is_latest": True, "_branch_code": 1, "_key_is_virtual": False,
            "created_at": now, "updated_at": now, **row,
        })
    result: dict[str, int] = {}
    if not prepared:
        return result
    table = cast(Table, Artifact.__table__)
    with inst.write() as s:
        for start in range(0, len(prepared), 5000):
            s.execute(insert_ignore(inst.dialect, table), prepared[start : start + 5000])
        hashes = list(dict.fromkeys(r["hash"] for r in prepared))
        for start in range(0, len(hashes), 500):
            part = hashes[start : start + 500]
            for digest, art_id in s.execute(select(Artifact.hash, Artifact.id)
                                            .where(Artifact.hash.in_(part))):
                result[digest] = art_id
    return result

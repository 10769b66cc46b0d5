"""Building and saving collections: member hash, deduplication, versions, trash.

Mirrors artifacts (``artifact_save``): a collection is identified by its ``hash``, derived
from its members' hashes in order-independent form (plus its meta artifact's), so saving
the same set again returns the existing collection and links the current run in
``collection_recreating_run``. Saving under an existing ``key`` (or with ``revises=``)
with another set makes the next version of that family.

A save is one write transaction: look up the hash, give the uid a version, insert the
row and its ordered member links. Unique constraints settle races between writers; the
loser retries and finds the winner's collection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import bindparam, delete, exc, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, make_transient_to_detached

from ..artifact.artifact import Artifact
from ..artifact.io import promote_latest
from ..db import ids, tables
from ..db.engine import Instance, get_instance, insert_ignore
from ..db.enums import Branch
from ..db.record import entity, saved_id
from ..db.schema import utcnow
from ..db.tables import collection_artifact, collection_recreating_run, run_input_collection
from ..db.versioning import adopt_saved, lock_families, next_version
from ..errors import ValidationError
from ..run.run import Run, get_current_run
from ..storage.hashing import hash_bytes
from ..storage.keys import validate_key
from ..tracking.inputs import link_inputs

if TYPE_CHECKING:
    from .collection import Collection

_SAVE_ATTEMPTS = 3


@dataclass
class PendingCollection:
    """What an unsaved collection was made from, until ``save()`` stores it."""

    artifacts: list[Artifact]
    run: Run | None
    revises: Collection | None


def prepare(
    coll: Collection,
    artifacts: Any,
    key: str | None,
    description: str | None,
    meta: Artifact | None,
    reference: str | None,
    reference_type: str | None,
    run: Run | None,
    revises: Collection | None,
    version: str | None,
) -> PendingCollection:
    """Validate the arguments of ``Collection(...)`` and fill the unsaved record's fields."""
    members = [artifacts] if isinstance(artifacts, Artifact) else _as_list(artifacts)
    if not members:
        raise ValidationError("a collection needs at least one artifact")
    seen: set[int] = set()
    for position, art in enumerate(members):
        if not isinstance(art, Artifact):
            raise ValidationError(
                f"collection member {position} is a {type(art).__name__}, not an Artifact"
            )
        _require_saved(art, f"artifact {position} ({art.key or 'no key'})")
        if art.id in seen:
            raise ValidationError(f"artifact {art.uid} is listed twice in the collection")
        seen.add(art.id)
    if meta is not None:
        if not isinstance(meta, Artifact):
            raise ValidationError(f"meta must be an Artifact, not a {type(meta).__name__}")
        _require_saved(meta, "the meta artifact")
    if revises is not None and (
            not isinstance(revises, entity(tables.collection)) or revises.id is None):
        raise ValidationError("revises= must be a saved Collection")
    if key is None and revises is not None:
        key = revises.key
    if key is not None:
        validate_key(key)
    if description is None and revises is not None:
        description = revises.description
    coll.key, coll.description, coll.version = key, description, version
    coll.reference, coll.reference_type = reference, reference_type
    coll.meta_artifact_id = meta.id if meta is not None else None
    coll.hash = collection_hash(members, meta)
    coll._branch_code, coll.is_latest = Branch.main, True
    return PendingCollection(members, run, revises)


def _as_list(artifacts: Any) -> list[Any]:
    if isinstance(artifacts, str | bytes) or not hasattr(artifacts, "__iter__"):
        raise ValidationError(
            f"artifacts must be an Artifact or a list of them, not {type(artifacts).__name__}"
        )
    return list(artifacts)


def _require_saved(art: Artifact, what: str) -> None:
    if art.id is None or getattr(art, "_pending", None) is not None:
        raise ValidationError(f"{what} is not saved: call .save() on it before collecting it")


def collection_hash(members: list[Artifact], meta: Artifact | None) -> str:
    """BLAKE3 of the sorted member hashes (order-independent), plus the meta artifact's."""
    lines = sorted(a.hash for a in members)
    if meta is not None:
        lines.append("meta:" + meta.hash)
    return hash_bytes("\n".join(lines).encode())


# ---------------------------------------------------------------- saving


def save_collection(coll: Collection) -> Collection:
    """Save an unsaved collection (see ``Collection.save``)."""
    inst = get_instance()
    pending = coll._pending
    assert pending is not None
    run = pending.run if pending.run is not None else get_current_run()
    for attempt in range(_SAVE_ATTEMPTS):
        try:
            previous = _save_or_adopt(inst, coll, pending, run)
            break
        except exc.IntegrityError as e:  # a concurrent writer won (hash, uid or reference)
            if attempt == _SAVE_ATTEMPTS - 1:
                raise ValidationError(f"could not save the collection: {e.orig}") from e
    coll._pending = None
    if run is not None:
        link_inputs(run, [a for a in pending.artifacts
                          if a.run_id != run.id and a.run_id not in _initiated_by(run, pending)])
        if previous is not None:
            link_collection_inputs(run, [previous])
    return coll


@cache
def _statements() -> dict[str, Any]:
    """Statements of the save path, built once so SQLAlchemy compiles them once."""
    table = tables.collection
    return {
        "table": table,
        "id_by_hash": select(table.c.id).where(table.c.hash == bindparam("digest")),
        "latest_by_key": select(table.c.id, table.c.uid, table.c.key, table.c.run_id).where(
            table.c.key == bindparam("key"),
            table.c.is_latest.is_(True),
            table.c._branch_code == Branch.main,
        ).order_by(table.c.id.desc()).limit(1),
        "by_reference": select(table.c.uid).where(
            table.c.reference == bindparam("reference"),
            table.c.reference_type == bindparam("reference_type"),
        ),
        "insert": insert(table).returning(table.c.id),
        "insert_members": insert(collection_artifact),
    }


def _save_or_adopt(inst: Instance, coll: Collection, pending: PendingCollection,
                   run: Run | None) -> _Version | None:
    """Insert ``coll`` or adopt the collection with its hash; return the revised version."""
    statements = _statements()
    revises = pending.revises
    families = [coll.key] if revises is None else [
        coll.key, revises.key, revises.uid[: ids.VERSIONED_STEM_LEN]]
    with inst.write() as s:
        conn = s.connection()
        lock_families(conn, inst.dialect, tables.collection, families)
        existing_id = conn.execute(statements["id_by_hash"], {"digest": coll.hash}).scalar()
        if existing_id is not None:
            existing = s.get_one(entity(tables.collection), existing_id)
            _adopt_existing(inst, s, coll, existing, run)
            return None
        _check_reference(conn, coll)
        previous = _assign_version(conn, coll, pending.revises)
        coll.run_id = run.id if run is not None else None
        coll.id = conn.execute(statements["insert"], _row(coll)).scalar_one()
        conn.execute(statements["insert_members"], [
            {"collection_id": coll.id, "artifact_id": a.id, "order": i}
            for i, a in enumerate(pending.artifacts)
        ])
    make_transient_to_detached(coll)
    return previous


def _row(coll: Collection) -> dict[str, Any]:
    coll.created_at = utcnow()
    return {col.name: getattr(coll, col.name, None)
            for col in tables.collection.columns if col.name != "id"}


def _check_reference(conn: Connection, coll: Collection) -> None:
    if coll.reference is None or coll.reference_type is None:
        return  # as the unique constraint: NULLs never conflict
    other = conn.execute(_statements()["by_reference"], {
        "reference": coll.reference, "reference_type": coll.reference_type}).scalar()
    if other is not None:
        raise ValidationError(
            f"collection {other} already has reference {coll.reference!r} "
            f"(type {coll.reference_type!r}); references are unique"
        )


class _Version(Protocol):
    """The columns of a previous version that saving a new one needs."""

    id: Any
    uid: Any
    key: Any
    run_id: Any


def _assign_version(conn: Connection, coll: Collection,
                    revises: Collection | None) -> _Version | None:
    """Give ``coll`` its uid: a new family, or the next version of ``revises``/its key."""
    statements = _statements()
    previous: _Version | None = revises
    if previous is None and coll.key is not None:
        previous = conn.execute(statements["latest_by_key"], {"key": coll.key}).first()
    coll.is_latest = True
    if previous is None:
        coll.uid = ids.new_uid(ids.VERSIONED_STEM_LEN, True)
        return None
    coll.uid = next_version(conn, statements["table"], previous.uid, ids.VERSIONED_STEM_LEN)
    if coll.key is None:
        coll.key = previous.key
    return previous


def _adopt_existing(inst: Instance, s: Session, coll: Collection, existing: Collection,
                    run: Run | None) -> None:
    """Make ``coll`` stand for the saved ``existing`` and link ``run`` as recreating."""
    adopt_saved(s, inst.dialect, coll, existing, run, collection_recreating_run, "collection_id")


# ---------------------------------------------------------------- run inputs


def _initiated_by(run: Run, pending: PendingCollection) -> set[int]:
    """Creators of the members that ``run`` initiated: a run gathering what its own tasks
    made produced that collection; it did not use those files as inputs."""
    creators = {a.run_id for a in pending.artifacts if a.run_id not in (None, run.id)}
    if not creators:
        return set()
    t = tables.run
    with get_instance().read() as s:
        return set(s.scalars(select(t.c.id).where(t.c.id.in_(creators),
                                                  t.c.initiated_by_run_id == run.id)))



def link_collection_inputs(run: Run, collections: Sequence[_Version]) -> None:
    """Link collections as inputs of ``run`` (idempotent; not the ones it created)."""
    seen: set[int] = run.__dict__.setdefault("_fl_input_collections", set())
    todo = {c.id for c in collections
            if c.id is not None and c.id not in seen and c.run_id != run.id}
    if not todo:
        return
    inst = get_instance()
    with inst.write() as s:
        s.execute(insert_ignore(inst.dialect, run_input_collection),
                  [{"run_id": run.id, "collection_id": cid} for cid in sorted(todo)])
    seen.update(todo)


# ---------------------------------------------------------------- trash


def set_branch(coll: Collection, code: int) -> None:
    """Move a saved collection to the trash (``Branch.trash``) or back (``Branch.main``)."""
    with get_instance().write() as s:
        s.execute(update(tables.collection).where(tables.collection.c.id == saved_id(coll))
                  .values(_branch_code=code))
    coll._branch_code = code


def delete_permanently(coll: Collection) -> None:
    """Delete the record and its links; member and meta artifacts stay."""
    with get_instance().write() as s:
        s.execute(delete(tables.collection).where(tables.collection.c.id == saved_id(coll)))
        if coll.is_latest:
            promote_latest(s, tables.collection, coll.uid[: ids.VERSIONED_STEM_LEN])


"""Version families shared by versioned models (artifacts, collections).

A family is every uid with the same random stem; the 4-character base62 suffix counts
versions (``0000``, ``0001``, …) as in lamindb, and exactly one member has ``is_latest``.

Numbering reads the family's newest uid, so two writers must not number one family at
once: SQLite's ``BEGIN IMMEDIATE`` already serialises writers, and on PostgreSQL
``lock_families`` takes transaction-scoped advisory locks on the families' keys.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from hashlib import blake2b
from typing import Any

from sqlalchemy import Table, bindparam, func, select, text, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import make_transient_to_detached

from . import ids
from .engine import insert_ignore
from .enums import Branch


@cache
def _statements(table: Table) -> tuple[Any, Any]:
    """The family's newest uid, and demoting its latest member (compiled once per table)."""
    family = (table.c.uid >= bindparam("stem"), table.c.uid < bindparam("bound"))
    return (
        select(func.max(table.c.uid)).where(*family),
        update(table).where(*family, table.c.is_latest.is_(True)).values(is_latest=False),
    )


MAX_FAMILY_LOCKS = 32
"""A transaction naming more families locks the whole table (bounds PostgreSQL's lock table)."""


def lock_families(conn: Connection, dialect: str, table: Table,
                  names: Iterable[str | None]) -> None:
    """Serialise versioning of the families named by key or uid stem (PostgreSQL only).

    A few families take a shared table lock plus one exclusive lock each; a bulk save of
    many takes the table lock exclusively. Locks are taken in one order (table, then
    sorted ids), so writers never deadlock, and are released at commit or rollback.
    """
    if dialect != "postgresql":
        return
    ids_ = sorted({_lock_id(f"{table.name}:{n}") for n in names if n is not None})
    if not ids_:
        return
    whole = _lock_id(f"{table.name}:*")
    if len(ids_) > MAX_FAMILY_LOCKS:
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": whole})
        return
    conn.execute(text("SELECT pg_advisory_xact_lock_shared(:id)"), {"id": whole})
    for id_ in ids_:
        conn.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": id_})


def _lock_id(name: str) -> int:
    return int.from_bytes(blake2b(name.encode("utf-8", "surrogatepass"), digest_size=8).digest(),
                          "big", signed=True)


def next_version(conn: Connection, table: Table, previous_uid: str, stem_len: int) -> str:
    """The uid of a new version in ``previous_uid``'s family; the family loses ``is_latest``.

    Run inside the write transaction that inserts the new version, which then takes
    ``is_latest=True``.
    """
    newest, demote = _statements(table)
    stem = previous_uid[:stem_len]
    family = {"stem": stem, "bound": ids.family_upper_bound(stem)}
    last = conn.execute(newest, family).scalar_one()
    conn.execute(demote, family)
    return stem + ids.next_version_suffix(last[stem_len:])


def adopt_saved(s: Any, dialect: str, record: Any, existing: Any, run: Any,
                recreating: Table, own_column: str) -> None:
    """Make unsaved ``record`` stand for the saved ``existing`` (same content): bring
    ``existing`` back from the trash, link ``run`` in ``recreating`` unless it created it,
    and copy its columns into ``record``, which becomes a detached persistent record."""
    model = type(existing)
    if existing._branch_code != Branch.main:  # saved again: bring it back from the trash
        s.execute(update(model).where(model.id == existing.id).values(_branch_code=Branch.main))
        existing._branch_code = Branch.main
    if run is not None and run.id != existing.run_id:
        s.execute(insert_ignore(dialect, recreating).values(
            {own_column: existing.id, "run_id": run.id}))
    for attr in model.__mapper__.column_attrs:
        setattr(record, attr.key, getattr(existing, attr.key))
    make_transient_to_detached(record)

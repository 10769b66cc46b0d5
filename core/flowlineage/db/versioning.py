"""Version families shared by versioned models (artifacts, collections).

A family is every uid with the same random stem; the 4-character base62 suffix counts
versions (``0000``, ``0001``, …) as in lamindb, and exactly one member has ``is_latest``.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import Table, bindparam, func, select, update
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

"""Version families shared by versioned models (artifacts, collections).

A family is every uid with the same random stem; the 4-character base62 suffix counts
versions (``0000``, ``0001``, …) as in lamindb, and exactly one member has ``is_latest``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from . import ids


def next_version(s: Session, model: Any, previous_uid: str, stem_len: int) -> str:
    """The uid of a new version in ``previous_uid``'s family; the family loses ``is_latest``.

    Run inside the write transaction that inserts the new version, which then takes
    ``is_latest=True``.
    """
    table = model.__table__  # Core statements: no ORM session synchronisation needed
    stem = previous_uid[:stem_len]
    family = (table.c.uid >= stem, table.c.uid < ids.family_upper_bound(stem))
    last = s.execute(select(func.max(table.c.uid)).where(*family)).scalar_one()
    s.execute(update(table).where(*family, table.c.is_latest.is_(True)).values(is_latest=False))
    return stem + ids.next_version_suffix(last[stem_len:])

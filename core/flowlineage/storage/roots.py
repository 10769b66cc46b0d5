"""Storage roots: the ``Storage`` entity, registering roots, and finding the root of a path."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Mapped

from ..db import tables
from ..db.engine import Instance, get_instance
from ..db.record import Record
from ..db.schema import Base
from .backends import StorageBackend, backend_for

_ROOTS = "storage_roots"


class Storage(Record, Base):
    """A storage root: a local folder or ``s3://bucket/prefix``."""

    __table__ = tables.storage

    id: Mapped[int]
    uid: Mapped[str]
    root: Mapped[str]
    type: Mapped[str]
    region: Mapped[str | None]
    description: Mapped[str | None]
    created_at: Mapped[datetime]

    @property
    def backend(self) -> StorageBackend:
        """The backend (local folder or fsspec filesystem) holding this root's bytes."""
        return backend_for(self.root)


def register_storage(root: str, description: str | None = None) -> Storage:
    """The Storage of a root, registered if new (race-safe)."""
    return storage_by_id(get_instance().register_root(root, description))


def default_storage(inst: Instance | None = None) -> Storage:
    """The instance's default storage root."""
    return storage_by_id((inst or get_instance()).storage_id)


def storage_by_id(storage_id: int) -> Storage:
    """The Storage row with this id (cached in the instance; storage rows never change)."""
    for storage in roots():
        if storage.id == storage_id:
            return storage
    return Storage.get(storage_id)


def roots(inst: Instance | None = None) -> list[Storage]:
    """Every registered root, longest first (cached until a root is registered)."""
    caches = (inst or get_instance()).caches
    found: list[Storage] | None = caches.get(_ROOTS)
    if found is None:
        found = caches[_ROOTS] = sorted(Storage.filter().all(), key=lambda s: -len(s.root))
    return found


def root_of(source: str, inst: Instance | None = None) -> tuple[Storage, str] | None:
    """The registered root holding a local path or URL, and the key under it; else None."""
    for storage in roots(inst):
        if source.startswith(storage.root + "/"):
            return storage, source[len(storage.root) + 1 :]
    return None

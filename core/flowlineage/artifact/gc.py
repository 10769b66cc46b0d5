"""Garbage collection of storage: copies no artifact references, left by saves that failed
or were killed, under the managed ``.flowlineage/`` folder of each storage root.

Only what flowlineage itself writes there is considered: copies named after an artifact uid
(``.flowlineage/<uid><suffix>``, a file or a folder) and the staging folder of in-flight
saves. Files a user keeps in a root (registered in place or not) and anything else under
``.flowlineage/`` are never touched. A copy is kept while any artifact's storage key names
it (trashed ones and every version included; a version's key keeps the uid it was saved
under, which its record no longer has), and while younger than the grace period, which
covers saves still in flight (bytes are written before their record).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from ..db import tables
from ..db.engine import get_instance
from ..errors import StorageError, ValidationError
from ..storage.backends import FsspecBackend, LocalBackend, _remote_errors
from ..storage.roots import Storage, roots
from ..storage.snapshot import STAGING
from .save import VIRTUAL_PREFIX

DEFAULT_GRACE = timedelta(hours=24)
_UID_NAMED = re.compile(r"[0-9A-Za-z]{20}(?:\.|$)")


@dataclass(frozen=True)
class Garbage:
    """A stored file no artifact references."""

    storage: Storage
    key: str
    size: int
    mtime: float  # POSIX seconds

    @property
    def path(self) -> str:
        """Full path or URL."""
        return f"{self.storage.root}/{self.key}"

    @property
    def modified(self) -> datetime:
        """When it was last modified."""
        return datetime.fromtimestamp(self.mtime, UTC)


def find_garbage(grace: timedelta = DEFAULT_GRACE) -> list[Garbage]:
    """The unreferenced copies under every storage root's ``.flowlineage/`` folder that
    were last modified more than ``grace`` ago, oldest first."""
    if grace < timedelta(0):
        raise ValidationError(f"the grace period must not be negative (got {grace})")
    cutoff = (datetime.now(UTC) - grace).timestamp()
    found: list[Garbage] = []
    for storage in roots():
        old = [f for f in _managed_files(storage) if f[2] < cutoff]
        if old:  # listed first: a copy saved meanwhile is young, or its key is read
            referenced = _referenced_entries(storage)
            found += [Garbage(storage, *f) for f in old if _entry(f[0]) not in referenced]
    return sorted(found, key=lambda g: g.mtime)


def collect_garbage(grace: timedelta = DEFAULT_GRACE, dry_run: bool = False) -> list[Garbage]:
    """Delete (unless ``dry_run``) what ``find_garbage`` finds and return it."""
    garbage = find_garbage(grace)
    if not dry_run:
        for item in garbage:
            _delete(item)
    return garbage


def _entry(key: str) -> str:
    """The top-level entry under ``.flowlineage/`` holding a key: a folder copy's files
    belong to its key."""
    return "/".join(key.split("/", 2)[:2])


def _is_managed(key: str) -> bool:
    parts = key.split("/")
    if len(parts) < 2 or parts[0] != VIRTUAL_PREFIX:
        return False
    if f"{parts[0]}/{parts[1]}" == STAGING:
        return len(parts) > 2
    return _UID_NAMED.match(parts[1]) is not None


def _managed_files(storage: Storage) -> Iterator[tuple[str, int, float]]:
    """Key, size and modification time (POSIX seconds) of each managed file."""
    backend = storage.backend
    if isinstance(backend, LocalBackend):
        yield from _local_files(storage.root)
    elif isinstance(backend, FsspecBackend):
        yield from _remote_files(backend)


def _local_files(root: str) -> Iterator[tuple[str, int, float]]:
    start = len(root) + 1
    for folder, _dirs, names in os.walk(os.path.join(root, VIRTUAL_PREFIX)):
        for name in names:
            path = f"{folder}/{name}"
            if not _is_managed(path[start:]):
                continue
            try:
                st = os.lstat(path)
            except FileNotFoundError:  # removed meanwhile (a save moved it from staging)
                continue
            yield path[start:], st.st_size, st.st_mtime


def _remote_files(backend: FsspecBackend) -> Iterator[tuple[str, int, float]]:
    top = backend.path(VIRTUAL_PREFIX)
    prefix = top.split("://", 1)[-1][: -len(VIRTUAL_PREFIX)]
    with _remote_errors(f"list {top}"):
        backend.fs.invalidate_cache(top)
        listing = backend.fs.find(top, detail=True) if backend.fs.exists(top) else {}
    for name, info in listing.items():
        key = name[len(prefix):]
        modified = info.get("LastModified") or info.get("mtime")
        if not _is_managed(key) or not isinstance(modified, datetime):
            continue  # without a modification time, never old enough
        yield key, int(info.get("size") or 0), modified.timestamp()


def _referenced_entries(storage: Storage) -> set[str]:
    """The entries under ``.flowlineage/`` that artifacts (any branch or version) of this
    root name: one pass over its keys."""
    a = tables.artifact
    query = select(a.c._storage_key).where(
        a.c.storage_id == storage.id, a.c._storage_key.startswith(f"{VIRTUAL_PREFIX}/",
                                                                  autoescape=True))
    with get_instance().connection() as conn:
        return {_entry(key) for key in conn.scalars(query)}


def _delete(item: Garbage) -> None:
    backend = item.storage.backend
    if not isinstance(backend, LocalBackend):
        backend.delete(item.key)
        return
    path = Path(item.storage.root) / item.key
    try:
        if path.lstat().st_mtime != item.mtime:
            return  # written again since it was listed (a save retrying this uid)
        path.unlink()
    except FileNotFoundError:
        return
    except OSError as e:
        raise StorageError(f"could not delete {path}: {e.strerror or e}") from e
    keep = {Path(item.storage.root) / VIRTUAL_PREFIX, Path(item.storage.root) / STAGING}
    folder = path.parent
    while folder not in keep:  # a partial folder copy: drop what became empty
        try:
            folder.rmdir()
        except OSError:
            break
        folder = folder.parent

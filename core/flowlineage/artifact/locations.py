"""Locations: every place an artifact's bytes were seen, and whether they are still there.

Content is one Artifact; places are many. A local place is stored as its absolute path with
symlinks resolved plus the host name; a remote one as its full URI (``s3://bucket/key``)
with no host. Recording the same place again refreshes it (size, mtime, when) and keeps the
run that wrote it unless a writing run is given, so a path's history orders by
``recorded_at`` even when its content changes back.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterable
from contextlib import suppress
from datetime import datetime
from functools import cache
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from sqlalchemy import ColumnElement, and_, func, select, tuple_, update
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Mapped

from ..db import tables
from ..db.direct import send_many
from ..db.engine import dialect_insert, get_instance
from ..db.query import QuerySet
from ..db.record import Record
from ..db.schema import Base, utcnow
from ..errors import StorageError, ValidationError
from ..run.run import Run
from ..storage.backends import backend_for
from ..storage.hashing import hash_file, hash_folder

State = Literal["unchanged", "modified", "missing"]
_T = tables.artifact_location


@cache
def this_host() -> str:
    """The host name local locations are recorded with."""
    return socket.gethostname()


def normalize(path: str | os.PathLike[str]) -> tuple[str, str | None]:
    """``(path, host)`` of a place: an absolute local path with symlinks resolved (relative
    paths from the current folder, ``file://`` URIs too) on this host, or a full URI."""
    text = os.fspath(path)
    if text.startswith("file:"):
        text = unquote(urlsplit(text).path)
    elif "://" in text:
        return text.rstrip("/"), None
    if not text:
        raise ValidationError("an empty path names no file")
    return os.path.realpath(os.path.expanduser(text)), this_host()


def fingerprint(path: str) -> tuple[int, float]:
    """Size and mtime of a local file, or of a folder's files (total size, newest mtime)."""
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        return st.st_size, st.st_mtime
    size, mtime = 0, 0.0
    for folder, _, files in os.walk(path):
        for name in files:
            fst = os.stat(os.path.join(folder, name))
            size, mtime = size + fst.st_size, max(mtime, fst.st_mtime)
    return size, mtime


def at_path(path: str, host: str | None) -> ColumnElement[bool]:
    """The clause selecting locations at a normalized place."""
    return and_(_T.c.path == path, _T.c.host == host if host is not None else _T.c.host.is_(None))


def under(folder: str, host: str | None) -> ColumnElement[bool]:
    """The clause selecting locations at or below a normalized folder (an index range)."""
    prefix = folder.rstrip("/") + "/"
    same_host = _T.c.host == host if host is not None else _T.c.host.is_(None)
    return and_(same_host, (_T.c.path == folder) | and_(
        _T.c.path >= prefix, _T.c.path < prefix[:-1] + chr(ord("/") + 1)))


class Location(Record, Base):
    """One place an artifact's bytes were seen: ``path`` (and ``host``), the ``run`` that
    wrote them there (None when it only read them), ``size``, ``mtime``, ``recorded_at``."""

    __table__ = _T

    id: Mapped[int]
    artifact_id: Mapped[int]
    host: Mapped[str | None]
    path: Mapped[str]
    run_id: Mapped[int | None]
    size: Mapped[int | None]
    mtime: Mapped[float | None]
    recorded_at: Mapped[datetime]

    @property
    def run(self) -> Run | None:
        """The run that wrote the bytes here, if known."""
        return None if self.run_id is None else Run.get(self.run_id)

    @property
    def uri(self) -> str:
        """The path, or ``file://`` plus the path for a local place on another host."""
        if self.host is None or self.host == this_host():
            return self.path
        return f"file://{self.host}{self.path}"

    def state(self, verify: bool = False) -> State:
        """``unchanged``, ``modified`` or ``missing``.

        Size and mtime decide when they match what was recorded; the content is hashed
        only when they differ or with ``verify=True``.
        """
        digest = select(tables.artifact.c.hash).where(tables.artifact.c.id == self.artifact_id)
        with get_instance().connection() as conn:
            expected = conn.execute(digest).scalar_one()
        return place_state(self.path, self.host, self.size, self.mtime, expected, verify)

    def __repr__(self) -> str:
        return (f"Location(path={self.uri!r}, artifact_id={self.artifact_id}, "
                f"run_id={self.run_id}, size={self.size})")


def place_state(path: str, host: str | None, size: int | None, mtime: float | None,
                expected_hash: str, verify: bool = False) -> State:
    """The state of a place against what was recorded there (see ``Location.state``)."""
    if host is None:
        return _remote_state(path, size, expected_hash, verify)
    if host != this_host():
        raise StorageError(f"{path} was recorded on host {host}; check it there")
    try:
        now = fingerprint(path)
    except FileNotFoundError:
        return "missing"
    except OSError as e:
        raise StorageError(f"cannot read {path}: {e.strerror or e}") from e
    if not verify and now == (size, mtime):
        return "unchanged"
    if size is not None and now[0] != size:
        return "modified"
    return "unchanged" if content_hash(path) == expected_hash else "modified"


def content_hash(path: str) -> str:
    """The content hash of a local file or folder; ``StorageError`` when it is unreadable."""
    try:
        return hash_folder(path)[0] if os.path.isdir(path) else hash_file(path)[0]
    except OSError as e:
        raise StorageError(f"cannot read {path}: {e.strerror or e}") from e


def _remote_state(uri: str, size: int | None, expected_hash: str, verify: bool) -> State:
    root, key = split_uri(uri)
    backend = backend_for(root)
    if not backend.exists(key):
        return "missing"
    digest, now_size, _ = backend.content_hash(key)
    if size is not None and now_size != size:
        return "modified"
    return "unchanged" if digest == expected_hash else "modified"


def split_uri(uri: str) -> tuple[str, str]:
    """``(scheme://bucket, key)`` of a URI."""
    scheme, rest = uri.split("://", 1)
    bucket, _, key = rest.partition("/")
    if not key:
        raise ValidationError(f"{uri} names a bucket, not an object")
    return f"{scheme}://{bucket}", key


# ---------------------------------------------------------------- recording


def record_locations(rows: Iterable[dict[str, Any]], conn: Connection | None = None) -> int:
    """Record places of artifacts in one transaction (``conn``'s if given); return how
    many places were recorded.

    Each row holds ``artifact_id`` and ``path`` (local path, ``file://`` or remote URI) and
    optionally ``run_id`` (the run that wrote the bytes there), ``size`` and ``mtime``
    (read from the file when left out). A row with ``host`` set has a normalized ``path``
    already. Recording a place again refreshes it.
    """
    local: dict[tuple[str, str | None, int], dict[str, Any]] = {}
    now = utcnow()
    for row in rows:
        path, host = (row["path"], row["host"]) if "host" in row else normalize(row["path"])
        size, mtime = row.get("size"), row.get("mtime")
        if host is not None and mtime is None:
            with suppress(FileNotFoundError):
                size, mtime = fingerprint(path)
        local[(path, host, row["artifact_id"])] = {
            "artifact_id": row["artifact_id"], "path": path, "host": host,
            "run_id": row.get("run_id"), "size": size, "mtime": mtime, "recorded_at": now,
        }
    if local:
        if conn is not None:
            _write(conn, list(local.values()))
        else:
            with get_instance().write_connection() as own:
                _write(own, list(local.values()))
    return len(local)


def _write(conn: Connection, rows: list[dict[str, Any]]) -> None:
    remote = [r for r in rows if r["host"] is None]
    on_host = [r for r in rows if r["host"] is not None]
    for start in range(0, len(on_host), 2000):
        send_many(conn, _upsert(conn.dialect.name), on_host[start : start + 2000])
    if remote:  # no host: NULLs never conflict, so look the places up first
        _record_remote(conn, remote)


@cache
def _upsert(dialect: str) -> Any:
    stmt = dialect_insert(dialect)(_T)
    return stmt.on_conflict_do_update(
        index_elements=["path", "host", "artifact_id"],
        set_={"size": stmt.excluded.size, "mtime": stmt.excluded.mtime,
              "recorded_at": stmt.excluded.recorded_at,
              "run_id": func.coalesce(stmt.excluded.run_id, _T.c.run_id)})


def _record_remote(s: Connection, rows: list[dict[str, Any]]) -> None:
    pairs = [(r["path"], r["artifact_id"]) for r in rows]
    known: set[tuple[str, int]] = set()
    for start in range(0, len(pairs), 500):
        known.update(s.execute(select(_T.c.path, _T.c.artifact_id).where(
            _T.c.host.is_(None), tuple_(_T.c.path, _T.c.artifact_id).in_(
                pairs[start : start + 500]))).tuples())
    for row in rows:
        if (row["path"], row["artifact_id"]) not in known:
            s.execute(_T.insert().values(row))
            continue
        values = {k: row[k] for k in ("size", "mtime", "recorded_at")}
        if row["run_id"] is not None:
            values["run_id"] = row["run_id"]
        s.execute(update(_T).where(at_path(row["path"], None),
                                   _T.c.artifact_id == row["artifact_id"]).values(values))


# ---------------------------------------------------------------- looking up


def locations_of(artifact_id: int) -> QuerySet[Location]:
    """Every place of an artifact, newest first."""
    return Location.filter(artifact_id=artifact_id).order_by("-recorded_at", "-id")


def newest_by_path(clause: ColumnElement[bool]) -> list[tuple[Location, str]]:
    """The newest location of each place matching ``clause`` with its artifact's hash,
    ordered by path (older content at a place is its history, not drift)."""
    stmt = (select(Location, tables.artifact.c.hash)
            .join(tables.artifact, tables.artifact.c.id == _T.c.artifact_id)
            .where(clause).order_by(_T.c.path, _T.c.host, _T.c.recorded_at.desc(),
                                    _T.c.id.desc()))
    found: dict[tuple[str, str | None], tuple[Location, str]] = {}
    with get_instance().read() as s:
        for loc, digest in s.execute(stmt).tuples():
            found.setdefault((loc.path, loc.host), (loc, digest))
    return list(found.values())


def local_or_remote_exists(path: str, host: str | None) -> bool:
    """Whether a normalized place exists (local on this host, or a remote object)."""
    if host is not None:
        return os.path.lexists(path)
    root, key = split_uri(path)
    return backend_for(root).exists(key)


def hash_of_place(path: str, host: str | None) -> str:
    """The content hash of an existing normalized place (local or remote)."""
    if host is not None:
        return content_hash(path)
    root, key = split_uri(path)
    return backend_for(root).content_hash(key)[0]

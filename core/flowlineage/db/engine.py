"""Connecting to an instance: the engine, short-lived sessions and write transactions.

SQLite (the embedded default) runs in WAL mode with a busy timeout, and every write
transaction starts with ``BEGIN IMMEDIATE`` so concurrent writers queue instead of failing
with "database is locked". Records are detached after each operation, so they can be
passed between threads freely.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, exc, select
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from ..errors import ConfigurationError, DatabaseError, NotConnected
from ..optional import require
from ..settings import Settings, hide_password, normalize_root, writable_folder
from . import ids, tables
from .migrations import upgrade

SQLITE_BUSY_TIMEOUT_MS = 60_000
SQLITE_CACHE_KIB = -64 * 1024
"""Page cache per connection (negative: KiB; SQLite's default is 2 MiB, grown only as used):
a bulk write of 100,000 runs updates six indexes and would spill pages to the WAL twice
as often."""
_WRITE = "flowlineage_write"


class Instance:
    """A connected flowlineage instance: database engine plus default storage root.

    ``caches`` holds what upper layers derive from rows that rarely change (storage roots);
    it is cleared whenever a write transaction rolls back or a root is registered.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = _make_engine(settings)
        self.dialect = self.engine.dialect.name
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, autoflush=False)
        self._local = threading.local()
        self.caches: dict[str, Any] = {}
        with _mapped_errors(self.engine.url):
            upgrade(self.engine)
        self.storage_root = settings.storage_root
        self.storage_id = self.register_root(settings.storage_root)

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return self.engine.url.render_as_string(hide_password=True)

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reads; reuses the open write session of this thread if any."""
        current = getattr(self._local, "session", None)
        if current is not None:
            yield current
            return
        with _mapped_errors(self.engine.url), self._sessions() as session:
            yield session  # closing ends the read transaction; loaded objects stay usable

    @contextmanager
    def connection(self) -> Iterator[Connection]:
        """A Core connection for light reads: this thread's write transaction if open."""
        current = getattr(self._local, "session", None)
        if current is not None:
            yield current.connection()
            return
        with _mapped_errors(self.engine.url), self.engine.connect() as conn:
            yield conn

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction (``BEGIN IMMEDIATE`` on SQLite); nested calls join it."""
        current = getattr(self._local, "session", None)
        if current is not None:
            yield current
            return
        with _mapped_errors(self.engine.url), self._sessions() as session:
            _intent.write = True
            try:
                session.connection()  # begins: BEGIN IMMEDIATE on SQLite
            finally:
                _intent.write = False
            self._local.session = session
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                self.caches.clear()  # e.g. a root registered in this transaction is gone
                raise
            finally:
                self._local.session = None

    @contextmanager
    def write_connection(self) -> Iterator[Connection]:
        """One write transaction on a bare Core connection, without a session: the hot
        paths' statements (``db.direct``) run on it. Joins this thread's open write
        transaction; nothing inside may open ``write()``."""
        current = getattr(self._local, "session", None)
        if current is not None:
            yield current.connection()
            return
        with _mapped_errors(self.engine.url), self.engine.connect() as conn:
            conn.execution_options(**{_WRITE: True})  # BEGIN IMMEDIATE on SQLite
            try:
                with conn.begin():
                    yield conn
            except BaseException:
                self.caches.clear()
                raise

    def register_root(self, root: str, description: str | None = None) -> int:
        """The id of a storage root's row, inserted if new (race-safe); a known root costs one
        read, never a write transaction (so connecting does not queue behind a writer)."""
        root = normalize_root(root)
        kind = root.split("://", 1)[0] if "://" in root else "local"
        if kind == "local" and not Path(root).is_dir():  # an existing one may be read-only
            writable_folder(Path(root), "the storage root", "FLOWLINEAGE_STORAGE (or --storage)")
        t = tables.storage
        with self.connection() as conn:
            known = conn.execute(select(t.c.id).where(t.c.root == root)).scalar()
        if known is not None:
            return int(known)
        with self.write() as s:
            found = s.execute(select(t.c.id).where(t.c.root == root)).scalar()
            if found is None:
                s.execute(insert_ignore(self.dialect, t).values(
                    uid=ids.base62(ids.STORAGE_UID_LEN), root=root, type=kind,
                    description=description))
                found = s.execute(select(t.c.id).where(t.c.root == root)).scalar_one()
        self.caches.clear()
        return int(found)

    def close(self) -> None:
        """Dispose of the engine's connections."""
        self.engine.dispose()


def dialect_insert(dialect: str) -> Any:
    """The dialect's ``insert`` (with ``on_conflict_*``); PostgreSQL's module loads only there."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def insert_ignore(dialect: str, table: Any) -> Any:
    """``INSERT … ON CONFLICT DO NOTHING`` for the current dialect."""
    return dialect_insert(dialect)(table).on_conflict_do_nothing()


@contextmanager
def _mapped_errors(url: URL) -> Iterator[None]:
    """SQLAlchemy's driver errors as ``DatabaseError`` naming the database (never its
    password) and, for operational errors, what to check; integrity errors pass through.
    """
    try:
        yield
    except exc.IntegrityError:
        raise
    except exc.DBAPIError as e:
        reason = " ".join(str(e.orig or e).split())
        if url.get_backend_name() == "postgresql":
            where = f"PostgreSQL at {url.host or 'localhost'}:{url.port or 5432}"
            what = f" (database {url.database!r}, user {url.username!r})"
            hint = ("check that the server runs and accepts connections there, and the "
                    "database, user and password in FLOWLINEAGE_DB (or --db)")
        else:
            where, what = f"SQLite database {url.database}", ""
            hint = "check that the file and its folder are writable (FLOWLINEAGE_HOME)"
        if not isinstance(e, exc.OperationalError):
            raise DatabaseError(f"{where}: {reason}") from e
        raise DatabaseError(f"{where}{what}: {reason}; {hint}") from e


def _make_engine(settings: Settings) -> Engine:
    try:
        url = make_url(settings.db_url)
    except (exc.ArgumentError, ValueError) as e:
        raise ConfigurationError(f"invalid database URL {hide_password(settings.db_url)!r}: "
                                 "use sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB"
                                 ) from e
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            folder = Path(url.database).expanduser().resolve().parent
            home = folder == settings.home
            writable_folder(folder, "FLOWLINEAGE_HOME" if home else "the database folder",
                            "FLOWLINEAGE_HOME" if home else "FLOWLINEAGE_DB (or --db)")
            _create_private(Path(url.database).expanduser())
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    if url.get_backend_name() == "postgresql":
        if url.get_driver_name() in ("psycopg2", ""):
            url = url.set(drivername="postgresql+psycopg")
        require("psycopg", "postgres")
        return create_engine(url, pool_pre_ping=True)
    raise ConfigurationError(
        f"unsupported database {url.get_backend_name()!r}: use sqlite:/// or postgresql+psycopg://"
    )


def _create_private(database: Path) -> None:
    """Create a new SQLite file 0600; SQLite gives its -wal and -shm files the database
    file's mode, so no other user can read the store."""
    try:
        os.close(os.open(database, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
    except FileExistsError:
        pass


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (see _sqlite_on_begin)
    cur = dbapi_conn.cursor()
    cur.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.execute("PRAGMA foreign_keys = ON")
    cur.execute(f"PRAGMA cache_size = {SQLITE_CACHE_KIB}")
    cur.close()


_intent = threading.local()
"""``write`` is True while a write transaction begins in this thread (see ``_sqlite_on_begin``)."""


def _sqlite_on_begin(conn: Any) -> None:
    write = getattr(_intent, "write", False) or conn.get_execution_options().get(_WRITE, False)
    # straight to the driver: this runs for every transaction
    conn.connection.driver_connection.execute("BEGIN IMMEDIATE" if write else "BEGIN")


_instance: Instance | None = None
_lock = threading.Lock()


def connect(url: str | None = None, storage: str | None = None) -> Instance:
    """Connect to an instance (creating and migrating it if needed) and make it current.

    Without arguments: ``FLOWLINEAGE_DB`` / ``FLOWLINEAGE_STORAGE``, else SQLite and a local
    storage folder under ``FLOWLINEAGE_HOME`` (default ``~/.flowlineage``).
    """
    global _instance
    settings = Settings.from_env(url, storage)
    with _lock:
        if _instance is not None:
            _instance.close()
        _instance = Instance(settings)
        return _instance


def _after_fork_in_child() -> None:
    """A forked child opens its own connections and leaves the parent's alone (SQLAlchemy's
    recipe for pools across ``os.fork()``)."""
    if _instance is not None:
        _instance.engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)


def get_instance() -> Instance:
    """The connected instance; raise ``NotConnected`` if ``connect()`` was not called."""
    if _instance is None:
        raise NotConnected()
    return _instance


def ensure_connected() -> Instance:
    """The connected instance, connecting with the environment's defaults if needed."""
    return _instance if _instance is not None else connect()


def disconnect() -> None:
    """Close the current instance's connections and forget it."""
    global _instance
    with _lock:
        if _instance is not None:
            _instance.close()
        _instance = None

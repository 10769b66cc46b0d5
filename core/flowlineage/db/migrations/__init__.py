"""Alembic migrations shipped in the package, applied automatically on connect."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text

from ...errors import MigrationError

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection, Engine

HEAD = "0003"
"""The newest revision; a test checks it against the scripts so connect can skip alembic."""

SCRIPT_LOCATION = Path(__file__).parent
_PG_LOCK_ID = 0x466C4C6E  # "FlLn": advisory lock serialising concurrent first connects


def current_revision(conn: Connection) -> str | None:
    """The revision stamped in the database, or None for an empty database."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def alembic_config(conn: Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged scripts (and at ``conn`` if given)."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(SCRIPT_LOCATION))
    if conn is not None:
        cfg.attributes["connection"] = conn
    return cfg


def upgrade(engine: Engine) -> None:
    """Bring the schema to ``HEAD``; cheap when it already is (one SELECT, no alembic import)."""
    with engine.connect() as conn:
        if current_revision(conn) == HEAD:
            return
    try:
        _locked_upgrade(engine)
    except Exception as e:  # alembic/SQLAlchemy errors surface as one clear error
        raise MigrationError(f"could not migrate the database to {HEAD}: {e}") from e


def _locked_upgrade(engine: Engine) -> None:
    from alembic import command

    with engine.connect().execution_options(flowlineage_write=True) as conn:
        with conn.begin():
            if engine.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_ID})
            if current_revision(conn) == HEAD:  # another process migrated while we waited
                return
            command.upgrade(alembic_config(conn), "head")

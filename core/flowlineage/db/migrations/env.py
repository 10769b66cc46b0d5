"""Alembic environment: runs on the connection flowlineage hands over (or a URL for dev use)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from flowlineage.db import tables  # noqa: F401 - registers every table on the metadata
from flowlineage.db.schema import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:  # `alembic revision --autogenerate` against a URL, for developers
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "sqlite://")
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()

"""SQLAlchemy 2 declarative base, column types and the constraint naming convention."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator, TypeEngine

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class _JSON(TypeDecorator[Any]):
    """JSON, stored as JSONB on PostgreSQL (its dialect is imported only there)."""

    impl = JSON
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            from sqlalchemy.dialects.postgresql import JSONB

            return dialect.type_descriptor(JSONB())
        return dialect.type_descriptor(JSON())


JSONType = _JSON()


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware (SQLite drops zones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stamp: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)

    def bind_processor(self, dialect: Dialect) -> Callable[[Any], Any] | None:
        """On SQLite, one step to SQLAlchemy's own text format (``2024-05-01
        12:00:00.000000``, naive UTC) instead of two processors: bulk writes bind many."""
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)

        def process(value: datetime | None) -> str | None:
            if value is None:
                return None
            if value.tzinfo is not None:
                value = value.astimezone(UTC).replace(tzinfo=None)
            return value.isoformat(" ", "microseconds")

        return process

    def result_processor(self, dialect: Dialect, coltype: object
                         ) -> Callable[[Any], Any] | None:
        """On SQLite, the stored text parsed straight into an aware UTC datetime (walks
        and listings read many)."""
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        convert = self.process_result_value

        def process(value: Any) -> datetime | None:
            if isinstance(value, str):
                return datetime.fromisoformat(value).replace(tzinfo=UTC)
            return convert(value, dialect)

        return process


class Base(DeclarativeBase):
    """Declarative base of every flowlineage table."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSONType}

    def __init_subclass__(cls, **kw: Any) -> None:
        """Map an entity onto its Core table (``__table__``) without evaluating its
        ``Mapped[...]`` annotations: they only type columns the table already has, and
        reading them was a good part of the cost of mapping at start-up."""
        own = cls.__dict__.get("__annotations__")
        if own is None or "__table__" not in cls.__dict__:
            super().__init_subclass__(**kw)
            return
        cls.__annotations__ = {}
        try:
            super().__init_subclass__(**kw)
        finally:
            cls.__annotations__ = own

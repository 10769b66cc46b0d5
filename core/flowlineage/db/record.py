"""Active-record behaviour shared by every entity: ``filter``, ``get``, ``save``; and the
registry that finds an entity class by its table, so lower entities can return higher ones
without importing them.
"""

from __future__ import annotations

from typing import Any, Self

from sqlalchemy import ColumnElement, Table, select

from ..errors import ConfigurationError, ValidationError
from .engine import get_instance
from .query import QuerySet
from .schema import Base


class Record:
    """Mixin giving an entity lamindb's query API; records are detached, usable from any thread."""

    id: Any
    uid: Any

    @classmethod
    def filter(cls, *clauses: ColumnElement[bool], **lookups: Any) -> QuerySet[Self]:
        """Records matching Django-style lookups, e.g. ``Run.filter(status="errored")``."""
        return cls._default_queryset().filter(*clauses, **lookups)

    @classmethod
    def _default_queryset(cls) -> QuerySet[Self]:
        return QuerySet(cls, select(cls))

    @classmethod
    def all(cls) -> QuerySet[Self]:
        """Every record (lazy)."""
        return cls.filter()

    @classmethod
    def get(cls, idlike: int | str | None = None, **lookups: Any) -> Self:
        """One record by id (int), uid (str) or lookups; raise ``DoesNotExist`` if none."""
        if isinstance(idlike, int):
            lookups["id"] = idlike
        elif isinstance(idlike, str):
            lookups["uid"] = idlike
        return cls._default_queryset().filter(**lookups).one()

    def save(self) -> Self:
        """Insert or update this record in one transaction and return it."""
        with get_instance().write() as s:
            s.add(self)
        return self

    def __repr__(self) -> str:
        mapper = self.__mapper__  # type: ignore[attr-defined]
        shown = []
        for attr in mapper.column_attrs:
            if attr.key in ("source_code", "params", "cli_args") or attr.key.startswith("_"):
                continue
            value = self.__dict__.get(attr.key)
            if value is not None:
                shown.append(f"{attr.key}={value!r}")
        return f"{type(self).__name__}({', '.join(shown)})"


def entity(table: Table) -> type[Any]:
    """The entity class mapped onto ``table`` (every entity is mapped once ``flowlineage``'s
    public names are used)."""
    for mapper in Base.registry.mappers:
        if mapper.local_table is table:
            return mapper.class_
    raise ConfigurationError(
        f"no entity is mapped onto table {table.name!r}: use it through `import flowlineage`"
    )


def through(model: type[Any], link: Table, own_col: str, other_col: str,
            own_id: int) -> QuerySet[Any]:
    """Records of ``model`` linked to ``own_id`` through the link table ``link``."""
    stmt = select(model).join(link, link.c[other_col] == model.id).where(
        link.c[own_col] == own_id
    )
    return QuerySet(model, stmt)


def saved_id(record: Any) -> int:
    """The id of a saved record; ``ValidationError`` for one not saved yet."""
    if record.id is None:
        raise ValidationError(f"{type(record).__name__} is not saved yet: call .save() first")
    return int(record.id)

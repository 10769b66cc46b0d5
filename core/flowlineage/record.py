"""Active-record behaviour shared by every model: ``filter``, ``get``, ``save``."""

from __future__ import annotations

from typing import Any, Self

from sqlalchemy import ColumnElement, select

from .query import QuerySet


class Record:
    """Mixin giving a model lamindb's query API; records are detached, usable from any thread."""

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
        from .instance import get_instance

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

"""Active-record behaviour shared by every entity: lamindb's registry methods (``filter``,
``get``, ``df``, ``lookup``, ``search``, ``save``); and the registry that finds an entity
class by its table, so lower entities can return higher ones without importing them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from functools import cache
from typing import TYPE_CHECKING, Any, Self

from sqlalchemy import ColumnElement, Table, delete, select
from sqlalchemy.orm.attributes import instance_state

from ..errors import ConfigurationError, InvalidLookup, MultipleResultsFound, ValidationError
from .engine import get_instance, insert_ignore
from .lookups import Q
from .query import QuerySet
from .schema import Base

if TYPE_CHECKING:
    import pandas as pd


class Record:
    """Mixin giving an entity lamindb's query API; records are detached, usable from any thread."""

    id: Any
    uid: Any

    @classmethod
    def filter(cls, *queries: ColumnElement[bool] | Q, **expressions: Any) -> QuerySet[Self]:
        """Records matching ``Q`` objects and Django-style lookups, e.g.
        ``Run.filter(Q(status="errored") | Q(params__lr__gt=0.1))``."""
        return cls._default_queryset().filter(*queries, **expressions)

    @classmethod
    def _default_queryset(cls) -> QuerySet[Self]:
        return QuerySet(cls, select(cls))

    @classmethod
    def all(cls) -> QuerySet[Self]:
        """Every record (lazy)."""
        return cls.filter()

    @classmethod
    def get(cls, idlike: int | str | None = None, **expressions: Any) -> Self:
        """One record by integer id, uid, uid stub (a prefix) or lookups; raise
        ``DoesNotExist`` if none matches, ``MultipleResultsFound`` if a stub is ambiguous.

        A versioned uid's stem (without the version suffix) gives the latest version.
        """
        if isinstance(idlike, int):
            expressions["id"] = idlike
        elif isinstance(idlike, str):
            if len(idlike) >= cls.__table__.c.uid.type.length:  # type: ignore[attr-defined]
                expressions["uid"] = idlike
            else:
                return cls._by_stub(idlike, expressions)
        return cls._default_queryset().filter(**expressions).one()

    @classmethod
    def _by_stub(cls, stub: str, expressions: dict[str, Any]) -> Self:
        query = cls._default_queryset().filter(uid__startswith=stub, **expressions)
        try:
            return query.one()
        except MultipleResultsFound:
            if not hasattr(cls, "is_latest"):
                raise
            return query.filter(is_latest=True).one()

    @classmethod
    def df(cls, include: str | list[str] | None = None, limit: int | None = 100) -> pd.DataFrame:
        """The newest ``limit`` records as a DataFrame (lamindb's ``df``); ``include`` adds
        related fields such as ``"transform__key"``."""
        return cls._default_queryset().order_by("-id").to_dataframe(include, limit)

    to_dataframe = df

    @classmethod
    def search(cls, string: str, *, field: str | list[str] | None = None, limit: int | None = 20,
               case_sensitive: bool = False) -> QuerySet[Self]:
        """Records whose name, key or description (or ``field``) contains ``string``, best
        match first."""
        return cls._default_queryset().search(string, field, limit, case_sensitive)

    @classmethod
    def lookup(cls, field: str | None = None, return_field: str | None = None) -> Lookup:
        """Auto-completable access to records by a field's values:
        ``ULabel.lookup().my_label`` is the record named "My label"."""
        field = field or next(
            (n for n in ("name", "key", "uid") if n in cls.__table__.c),  # type: ignore[attr-defined]
            "uid")
        if not hasattr(cls, field) or (return_field and not hasattr(cls, return_field)):
            raise InvalidLookup(f"{cls.__name__} has no field {return_field or field!r}")
        items: dict[str, Any] = {}
        for record in cls._default_queryset().order_by("id"):
            value = getattr(record, field)
            if value is not None:
                items.setdefault(str(value), getattr(record, return_field) if return_field
                                 else record)
        return Lookup(items)

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


class Lookup:
    """Values by field value, as attributes (``lookup.my_label``) or items
    (``lookup["My label"]``); attribute names are the values lower-cased with non-word
    characters replaced by ``_``."""

    def __init__(self, items: dict[str, Any]) -> None:
        self._items = items
        self._by_attr: dict[str, Any] = {}
        for key, value in items.items():
            self._by_attr.setdefault(_identifier(key), value)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_by_attr"][name]
        except KeyError:
            raise AttributeError(f"no record with the lookup name {name!r}") from None

    def __getitem__(self, key: str) -> Any:
        return self._items[key]

    def __dir__(self) -> list[str]:
        return sorted(self._by_attr)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def dict(self) -> dict[str, Any]:
        """The values by the field's original values."""
        return dict(self._items)


def _identifier(value: str) -> str:
    name = re.sub(r"\W+", "_", value.strip().lower()).strip("_") or "_"
    return f"_{name}" if name[0].isdigit() else name


@cache
def entity(table: Table) -> type[Any]:
    """The entity class mapped onto ``table`` (every entity is mapped once ``flowlineage``'s
    public names are used); remembered once found."""
    for mapper in Base.registry.mappers:
        if mapper.local_table is table:
            return mapper.class_
    raise ConfigurationError(
        f"no entity is mapped onto table {table.name!r}: use it through `import flowlineage`"
    )


def detached_records(cls: type[Any], rows: Iterable[Sequence[Any]]) -> list[Any]:
    """Records of ``cls`` from Core rows of its whole table (``select(table)``), built in
    bulk without a session: detached with every column loaded and their identity set, as
    the ORM's loader leaves them once the session closes, at a fraction of its per-row cost
    (no identity map, loader or events)."""
    mapper = cls.__mapper__
    keys = [mapper.get_property_by_column(c).key for c in mapper.local_table.c]
    pk = list(mapper.local_table.c).index(mapper.primary_key[0])
    new, identity = mapper.class_manager.new_instance, mapper.identity_key_from_primary_key
    records = []
    for row in rows:
        record = new()
        record.__dict__.update(zip(keys, row, strict=True))
        instance_state(record).key = identity((row[pk],))
        records.append(record)
    return records


class LinkedSet(QuerySet[Any]):
    """Records linked to one record through a link table; ``add()`` / ``remove()`` change
    the links (lamindb's ``run.ulabels.add(label)``)."""

    def __init__(self, model: type[Any], link: Table, own_col: str, other_col: str,
                 own_id: int) -> None:
        stmt = select(model).join(link, link.c[other_col] == model.id).where(
            link.c[own_col] == own_id)
        super().__init__(model, stmt)
        self._link, self._own, self._other, self._own_id = link, own_col, other_col, own_id

    def add(self, *records: Any) -> None:
        """Link saved records (once each)."""
        inst = get_instance()
        rows = [{self._own: self._own_id, self._other: saved_id(r)} for r in records]
        if rows:
            with inst.write() as s:
                s.execute(insert_ignore(inst.dialect, self._link), rows)

    def remove(self, *records: Any) -> None:
        """Unlink records."""
        other = self._link.c[self._other]
        with get_instance().write() as s:
            s.execute(delete(self._link).where(
                self._link.c[self._own] == self._own_id,
                other.in_([saved_id(r) for r in records])))


def through(model: type[Any], link: Table, own_col: str, other_col: str,
            own_id: int) -> LinkedSet:
    """Records of ``model`` linked to ``own_id`` through the link table ``link``."""
    return LinkedSet(model, link, own_col, other_col, own_id)


def saved_id(record: Any) -> int:
    """The id of a saved record; ``ValidationError`` for one not saved yet."""
    if record.id is None:
        raise ValidationError(f"{type(record).__name__} is not saved yet: call .save() first")
    return int(record.id)

"""Django-style lookups (``field__op=value``) compiled to SQLAlchemy, and the QuerySet."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, func, inspect, select
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import InstrumentedAttribute

from ..errors import DoesNotExist, InvalidLookup, MultipleResultsFound
from ..optional import require
from .engine import get_instance
from .enums import Branch

if TYPE_CHECKING:
    import pandas as pd

R = TypeVar("R")

_OPERATORS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
    "exact": lambda c, v: c.is_(None) if v is None else c == v,
    "in": lambda c, v: c.in_(list(v)),
    "gt": lambda c, v: c > v,
    "gte": lambda c, v: c >= v,
    "lt": lambda c, v: c < v,
    "lte": lambda c, v: c <= v,
    "contains": lambda c, v: c.contains(v, autoescape=True),
    "icontains": lambda c, v: func.lower(c).contains(str(v).lower(), autoescape=True),
    "startswith": lambda c, v: c.startswith(v, autoescape=True),
    "endswith": lambda c, v: c.endswith(v, autoescape=True),
    "isnull": lambda c, v: c.is_(None) if v else c.is_not(None),
    "ne": lambda c, v: c.is_not(None) if v is None else c != v,
}


def compile_lookups(
    model: type[Any], stmt: Select[Any], lookups: dict[str, Any]
) -> Select[Any]:
    """Add WHERE clauses (and joins for ``relation__field``) for Django-style lookups.

    Values are always bound parameters. ``status="completed"`` on Run maps to the status code.
    """
    joins: dict[tuple[str, ...], Any] = {}
    for raw_key, value in lookups.items():
        parts = raw_key.split("__")
        op = "exact"
        if len(parts) > 1 and parts[-1] in _OPERATORS:
            op = parts.pop()
        current: Any = model
        path: tuple[str, ...] = ()
        for rel in parts[:-1]:
            target = model_for_relation(current, rel)
            if target is None:
                raise InvalidLookup(
                    f"{model.__name__} lookup {raw_key!r}: {rel!r} is not a relation"
                )
            path = (*path, rel)
            if path not in joins:
                alias = aliased(target)
                fk_col = getattr(current, f"{rel}_id")
                stmt = stmt.join(alias, fk_col == alias.id)
                joins[path] = alias
            current = joins[path]
        field = parts[-1]
        column, value = _column_and_value(current, model, field, value, raw_key)
        stmt = stmt.where(_OPERATORS[op](column, value))
    return stmt


def model_for_relation(entity: Any, rel: str) -> type[Any] | None:
    """The model a ``<rel>_id`` foreign key of ``entity`` (a model or alias) points to."""
    mapper = inspect(entity).mapper
    col = mapper.local_table.c.get(f"{rel}_id")
    if col is None or not col.foreign_keys:
        return None
    target_table = next(iter(col.foreign_keys)).column.table
    for other in mapper.registry.mappers:
        if other.local_table is target_table:
            return other.class_  # type: ignore[no-any-return]
    return None


def _column_and_value(
    entity: Any, model: type[Any], field: str, value: Any, raw_key: str
) -> tuple[ColumnElement[Any], Any]:
    cls = inspect(entity).mapper.class_
    translate = getattr(cls, "_fl_lookup_alias", {}).get(field)
    if translate is not None:
        field, convert = translate
        value = convert(value)
    if hasattr(value, "__mapper__") and hasattr(entity, f"{field}_id"):
        return getattr(entity, f"{field}_id"), value.id
    if not isinstance(getattr(cls, field, None), InstrumentedAttribute):
        raise InvalidLookup(f"{model.__name__} has no field {field!r} (lookup {raw_key!r})")
    return getattr(entity, field), value


class QuerySet(Generic[R]):
    """A lazy query over one model: chain ``filter()``/``order_by()``, then fetch.

    Iterating, ``all()``, ``first()``, ``one()``, ``count()`` and ``to_dataframe()`` run SQL.
    """

    def __init__(
        self, model: type[R], stmt: Select[Any] | None = None, hide_trash: bool = True
    ) -> None:
        self.model = model
        self._stmt = stmt if stmt is not None else select(model)
        self._hide_trash = hide_trash and hasattr(model, "_branch_code")

    def _derive(self, stmt: Select[Any], hide_trash: bool | None = None) -> QuerySet[R]:
        hide = self._hide_trash if hide_trash is None else hide_trash
        return QuerySet(self.model, stmt, hide)

    def filter(self, *clauses: ColumnElement[bool], **lookups: Any) -> QuerySet[R]:
        """Narrow the query with SQLAlchemy clauses and/or Django-style lookups.

        ``branch="trash"`` (or any ``_branch_code`` lookup) shows trashed records.
        """
        if "branch" in lookups:
            name = lookups.pop("branch")
            lookups["_branch_code"] = int(Branch[name]) if name in Branch.__members__ else name
        explicit = any(k.split("__")[0] == "_branch_code" for k in lookups)
        stmt = self._stmt.where(*clauses) if clauses else self._stmt
        stmt = compile_lookups(self.model, stmt, lookups)
        return self._derive(stmt, False if explicit else None)

    def order_by(self, *fields: str) -> QuerySet[R]:
        """Order by field names; a leading ``-`` sorts descending."""
        cols = []
        for f in fields:
            col = getattr(self.model, f.lstrip("-"), None)
            if col is None:
                raise InvalidLookup(f"{self.model.__name__} has no field {f.lstrip('-')!r}")
            cols.append(col.desc() if f.startswith("-") else col.asc())
        return self._derive(self._stmt.order_by(None).order_by(*cols))

    def limit(self, n: int) -> QuerySet[R]:
        """Return at most ``n`` records."""
        return self._derive(self._stmt.limit(n))

    @property
    def statement(self) -> Select[Any]:
        """The SQLAlchemy ``Select`` this query set runs."""
        if self._hide_trash:
            return self._stmt.where(self.model._branch_code == Branch.main)  # type: ignore[attr-defined]
        return self._stmt

    def all(self) -> list[R]:
        """Every matching record, as a list."""
        with get_instance().read() as s:
            return list(s.scalars(self.statement).unique().all())

    def __iter__(self) -> Iterator[R]:
        return iter(self.all())

    def __len__(self) -> int:
        return self.count()

    def first(self) -> R | None:
        """The first record (by id unless ordered), or None."""
        stmt = self.statement
        if not stmt._order_by_clauses:
            stmt = stmt.order_by(self.model.id)  # type: ignore[attr-defined]
        with get_instance().read() as s:
            found: R | None = s.scalars(stmt.limit(1)).first()
        return found

    def one(self) -> R:
        """Exactly one record; raise ``DoesNotExist`` or ``MultipleResultsFound`` otherwise."""
        with get_instance().read() as s:
            rows: list[R] = list(s.scalars(self.statement.limit(2)).unique().all())
        if not rows:
            raise DoesNotExist(f"no {self.model.__name__} matches the query")
        if len(rows) > 1:
            raise MultipleResultsFound(
                f"several {self.model.__name__} records match; add lookups to narrow it down"
            )
        return rows[0]

    def one_or_none(self) -> R | None:
        """One record or None; raise ``MultipleResultsFound`` if several match."""
        try:
            return self.one()
        except DoesNotExist:
            return None

    def count(self) -> int:
        """Number of matching records (one COUNT query)."""
        stmt = select(func.count()).select_from(self.statement.order_by(None).subquery())
        with get_instance().read() as s:
            return int(s.execute(stmt).scalar_one())

    def exists(self) -> bool:
        """Whether any record matches."""
        return self.limit(1).first() is not None

    def to_dataframe(self) -> pd.DataFrame:
        """The matching records as a pandas DataFrame indexed by ``id``."""
        pd = require("pandas", "data")
        records = self.all()
        columns = [c.key for c in self.model.__table__.columns]  # type: ignore[attr-defined]
        frame = pd.DataFrame.from_records(
            [{c: getattr(r, _attr_name(self.model, c)) for c in columns} for r in records],
            columns=columns,
        )
        return frame.set_index("id")

    def __repr__(self) -> str:
        return f"<QuerySet of {self.model.__name__}>"


def _attr_name(model: type[Any], column_key: str) -> str:
    mapper: Any = inspect(model)
    return str(mapper.get_property_by_column(mapper.local_table.c[column_key]).key)

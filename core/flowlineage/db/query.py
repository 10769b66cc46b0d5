"""The QuerySet: a lazy, chainable query over one model, fetched as records or a DataFrame."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy import ColumnElement, Select, case, func, inspect, or_, select

from ..errors import DoesNotExist, InvalidLookup, MultipleResultsFound
from ..optional import require
from .engine import get_instance
from .enums import Branch
from .lookups import LookupCompiler, Q

if TYPE_CHECKING:
    import pandas as pd

R = TypeVar("R")

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

    def filter(self, *queries: ColumnElement[bool] | Q, **lookups: Any) -> QuerySet[R]:
        """Narrow the query with ``Q`` objects, SQLAlchemy clauses and Django-style lookups
        (``transform__key="x"``, ``params__lr__gt=0.1``, ``features__acc__gte=0.9``).

        ``branch="trash"`` (or any ``_branch_code`` lookup) shows trashed records.
        """
        if "branch" in lookups:
            name = lookups.pop("branch")
            lookups["_branch_code"] = int(Branch[name]) if name in Branch.__members__ else name
        explicit = any(k.split("__")[0] == "_branch_code" for k in lookups)
        clauses = [q for q in queries if not isinstance(q, Q)]
        stmt = self._stmt.where(*clauses) if clauses else self._stmt
        stmt = LookupCompiler(self.model, stmt).where(
            lookups, tuple(q for q in queries if isinstance(q, Q)))
        return self._derive(stmt, False if explicit else None)

    def search(self, string: str, field: str | list[str] | None = None, limit: int | None = 20,
               case_sensitive: bool = False) -> QuerySet[R]:
        """Records whose text fields contain ``string``, best first: an exact match, then a
        prefix, then a substring (lamindb's ``search``)."""
        names = [field] if isinstance(field, str) else field or search_fields(self.model)
        unknown = [n for n in names if n not in self.model.__table__.c]  # type: ignore[attr-defined]
        if unknown:
            raise InvalidLookup(f"{self.model.__name__} has no field {unknown[0]!r} to search")
        columns = [getattr(self.model, n) for n in names]
        if not case_sensitive:
            columns, string = [func.lower(c) for c in columns], string.lower()
        ranks = []
        for rank, test in enumerate(_SEARCH_TESTS):
            ranks.append((or_(*(test(c, string) for c in columns)), rank))
        stmt = self._stmt.where(or_(*(_contains(c, string, case_sensitive) for c in columns)))
        stmt = stmt.order_by(None).order_by(case(*ranks, else_=len(ranks)),
                                            self.model.id)  # type: ignore[attr-defined]
        return self._derive(stmt if limit is None else stmt.limit(limit))

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

    def to_dataframe(self, include: str | list[str] | None = None,
                     limit: int | None = None) -> pd.DataFrame:
        """The matching records as a pandas DataFrame indexed by ``id``.

        ``include`` adds related values by lookup path (``"transform__key"``,
        ``"params__lr"``); ``limit`` keeps the first records. Computed fields such as a
        run's ``status`` are columns too.
        """
        pd = require("pandas", "data")
        queryset = self if limit is None else self.limit(limit)
        records = queryset.all()
        columns = [_attr_name(self.model, c.key)
                   for c in self.model.__table__.columns]  # type: ignore[attr-defined]
        columns += getattr(self.model, "_fl_computed_columns", ())
        frame = pd.DataFrame.from_records(
            [{c: getattr(r, c) for c in columns} for r in records],
            columns=columns,
        ).set_index("id")
        paths = [include] if isinstance(include, str) else include or []
        if paths and records:
            frame = frame.join(queryset._included(paths))
        return frame

    df = to_dataframe

    def _included(self, paths: list[str]) -> pd.DataFrame:
        pd = require("pandas", "data")
        model: Any = self.model
        compiler = LookupCompiler(model, select(model.id))
        columns = [compiler.expression(p) for p in paths]
        stmt = compiler.stmt.add_columns(*columns).where(
            model.id.in_(self.statement.with_only_columns(model.id)))
        with get_instance().read() as s:
            rows = [tuple(r) for r in s.execute(stmt)]
        return pd.DataFrame.from_records(rows, columns=["id", *paths]).set_index("id")

    def __repr__(self) -> str:
        return f"<QuerySet of {self.model.__name__}>"


def search_fields(model: type[Any]) -> list[str]:
    """The text fields ``search`` looks in by default: name, key, description (those the
    model has)."""
    table = model.__table__
    found = [n for n in ("name", "key", "description") if n in table.c]
    if not found:
        raise InvalidLookup(f"{model.__name__} has no text field to search: pass field=")
    return found


_SEARCH_TESTS: tuple[Callable[[Any, str], ColumnElement[bool]], ...] = (
    lambda c, s: c == s,
    lambda c, s: c.startswith(s, autoescape=True),
)


def _contains(column: Any, string: str, case_sensitive: bool) -> ColumnElement[bool]:
    if case_sensitive and get_instance().dialect == "sqlite":  # SQLite's LIKE ignores case
        return func.instr(column, string) > 0
    return column.contains(string, autoescape=True)  # type: ignore[no-any-return]


def _attr_name(model: type[Any], column_key: str) -> str:
    mapper: Any = inspect(model)
    return str(mapper.get_property_by_column(mapper.local_table.c[column_key]).key)

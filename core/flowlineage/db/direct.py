"""Statements of the hot paths sent straight to the DBAPI cursor, on SQLite and PostgreSQL.

A statement is compiled once per dialect and column set into a ``Plan``: its SQL text, its
bind names in order, each bind's converter (the column types' own bind processors) and the
Python-side default of each column a row leaves out. Executing a plan skips SQLAlchemy's
per-statement work; driver errors are raised as SQLAlchemy's (``exc.IntegrityError``...),
so callers and the instance's error mapping treat them as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import repeat
from typing import Any

from sqlalchemy import exc
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.schema import ColumnDefault
from sqlalchemy.sql.dml import Insert


@dataclass(frozen=True)
class Plan:
    """A compiled statement: SQL text, bind names in order, each bind's converter, and the
    Python-side default of each bind the rows leave out (None for given ones)."""

    sql: str
    order: tuple[str, ...]
    processors: list[Callable[[Any], Any] | None]
    defaults: list[Any]
    positional: bool

    def params(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        """The driver's parameters of ``rows`` (tuples or dicts, as the driver wants),
        converted column by column; a left-out column's default is evaluated once."""
        if len(rows) == 1:  # the hot statements of one-by-one saves
            return [self._one(rows[0])]
        columns: list[Iterable[Any]] = []
        for name, process, default in zip(self.order, self.processors, self.defaults,
                                          strict=True):
            if default is None:
                column: Iterable[Any] = [row[name] for row in rows]
                columns.append(column if process is None else map(process, column))
            else:
                value = default.arg(None) if default.is_callable else default.arg
                columns.append(repeat(value if process is None else process(value), len(rows)))
        values: Iterable[tuple[Any, ...]] = zip(*columns, strict=True) if columns \
            else [()] * len(rows)  # a statement without binds
        if self.positional:
            return list(values)
        return [dict(zip(self.order, v, strict=True)) for v in values]


    def _one(self, row: Mapping[str, Any]) -> Any:
        values = []
        for name, process, default in self._binds:
            value = row[name] if default is None else \
                default.arg(None) if default.is_callable else default.arg
            values.append(value if process is None else process(value))
        return tuple(values) if self.positional else dict(zip(self.order, values, strict=True))

    @cached_property
    def _binds(self) -> list[tuple[str, Callable[[Any], Any] | None, Any]]:
        return list(zip(self.order, self.processors, self.defaults, strict=True))


_PLANS: dict[tuple[Any, str, tuple[str, ...]], Plan] = {}


def plan(dialect: Dialect, stmt: Any, columns: tuple[str, ...] = ()) -> Plan:
    """The plan of ``stmt`` (for an INSERT, of rows holding ``columns``); cached per
    statement object, dialect and columns."""
    key = (stmt, dialect.name, columns)
    found = _PLANS.get(key)
    if found is None:
        compiled = stmt.compile(dialect=dialect, column_keys=list(columns)
                                if isinstance(stmt, Insert) else None)
        order = tuple(compiled.positiontup or compiled.binds)
        binds = compiled.binds
        found = Plan(str(compiled), order, [
            binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in order], [
            _default(stmt, binds[name], name, columns) for name in order], dialect.positional)
        _PLANS[key] = found
    return found


def _default(stmt: Any, bind: Any, name: str, columns: tuple[str, ...]) -> Any:
    """What fills a bind the rows leave out: a column's default for an INSERT, the literal
    value of a bind the statement fixes (``x == 3``); None for a bind the rows give."""
    if isinstance(stmt, Insert):
        return None if name in columns else stmt.table.c[name].default
    return None if bind.required else ColumnDefault(bind.value)


def _execute(conn: Connection, p: Plan, params: Any, many: bool) -> list[Any]:
    """Run ``p`` on a driver cursor (``executemany`` when ``many``); its rows, if any.
    Driver errors are raised as SQLAlchemy's."""
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        if many and len(params) > 1:
            cursor.executemany(p.sql, params)
            return []
        if many:  # one row: execute skips executemany's per-call setup
            params = params[0]
        cursor.execute(p.sql, params)
        return cursor.fetchall() if cursor.description else []
    except conn.dialect.loaded_dbapi.Error as e:
        raise exc.DBAPIError.instance(p.sql, params, e, conn.dialect.loaded_dbapi.Error,
                                      dialect=conn.dialect) from e
    finally:
        cursor.close()


def fetch(conn: Connection, stmt: Any, values: Mapping[str, Any] | None = None,
          columns: tuple[str, ...] = ()) -> list[Any]:
    """Execute ``stmt`` once with ``values`` on ``conn``'s driver cursor; its rows (none
    for a statement returning nothing)."""
    p = plan(conn.dialect, stmt, columns)
    return _execute(conn, p, p.params([values or {}])[0], many=False)


def send_many(conn: Connection, stmt: Any, rows: Sequence[Mapping[str, Any]]) -> None:
    """Execute an INSERT for every row (all with the same keys) in one ``executemany``.
    Python-side column defaults are evaluated once."""
    if not rows:
        return
    p = plan(conn.dialect, stmt, tuple(rows[0]))
    _execute(conn, p, p.params(rows), many=True)

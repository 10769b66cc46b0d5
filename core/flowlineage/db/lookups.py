"""Django-style lookups (``field__op=value``) and ``Q`` objects compiled to SQLAlchemy.

A lookup walks foreign keys (``transform__key``), JSON keys (``params__learning_rate``)
and typed run features (``features__accuracy__gt``); values are always bound parameters.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import (
    JSON,
    ColumnElement,
    Select,
    String,
    and_,
    case,
    cast,
    func,
    inspect,
    not_,
    or_,
    true,
)
from sqlalchemy.orm import aliased
from sqlalchemy.orm.attributes import QueryableAttribute

from ..errors import InvalidLookup
from .engine import get_instance
from .upserts import BUNDLE

OPERATORS: dict[str, Callable[[Any, Any], ColumnElement[bool]]] = {
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
_TEXT_OPS = frozenset({"contains", "icontains", "startswith", "endswith"})


class Q:
    """A composable condition (lamindb's / Django's ``Q``): ``Q(a=1) | ~Q(b__gt=2)``."""

    def __init__(self, *children: Q, **lookups: Any) -> None:
        self.children: list[Q | tuple[str, Any]] = [*children, *lookups.items()]
        self.connector = "AND"
        self.negated = False

    def _combine(self, other: Q, connector: str) -> Q:
        if not isinstance(other, Q):
            return NotImplemented
        combined = Q(self, other)
        combined.connector = connector
        return combined

    def __and__(self, other: Q) -> Q:
        return self._combine(other, "AND")

    def __or__(self, other: Q) -> Q:
        return self._combine(other, "OR")

    def __invert__(self) -> Q:
        inverted = Q(self)
        inverted.negated = True
        return inverted

    def __repr__(self) -> str:
        inner = f" {self.connector} ".join(repr(c) for c in self.children)
        return f"{'NOT ' if self.negated else ''}Q({inner})"


class LookupCompiler:
    """Turns lookups into WHERE clauses over ``model``, adding the joins they need to
    ``stmt`` (one join per relation path; outer joins when ``outer``)."""

    def __init__(self, model: type[Any], stmt: Select[Any], outer: bool = False) -> None:
        self.model = model
        self.stmt = stmt
        self.outer = outer
        self._joins: dict[tuple[str, ...], Any] = {}

    def where(self, lookups: dict[str, Any], queries: tuple[Q, ...] = ()) -> Select[Any]:
        """``stmt`` narrowed by every lookup and query (all must hold)."""
        clauses = [self.clause(k, v) for k, v in lookups.items()]
        clauses += [self.q(q) for q in queries]
        return self.stmt.where(*clauses) if clauses else self.stmt

    def q(self, query: Q) -> ColumnElement[bool]:
        """The clause of a ``Q`` object (relations inside it are outer-joined)."""
        outer, self.outer = self.outer, True
        try:
            parts = [self.q(c) if isinstance(c, Q) else self.clause(*c) for c in query.children]
        finally:
            self.outer = outer
        joined = (or_ if query.connector == "OR" else and_)(*parts) if parts else true()
        return not_(joined) if query.negated else joined

    def clause(self, raw_key: str, value: Any) -> ColumnElement[bool]:
        """The clause of one lookup, e.g. ``("transform__key__startswith", "pipe")``."""
        parts = raw_key.split("__")
        op = parts.pop() if len(parts) > 1 and parts[-1] in OPERATORS else "exact"
        if parts[0] == "features" and hasattr(self.model, "_fl_feature_table"):
            return self._feature_clause(parts[1:], op, value, raw_key)
        entity, field, keys = self._walk(parts, raw_key)
        if keys:
            column = _json_element(getattr(entity, field)[tuple(keys) if len(keys) > 1
                                                          else keys[0]], op, value)
            return OPERATORS[op](column, value)
        column, value = self._column_and_value(entity, field, value, raw_key)
        return OPERATORS[op](column, value)

    def expression(self, path: str) -> ColumnElement[Any]:
        """The value a ``relation__field`` (or ``json__key``) path points to, for a select."""
        self.outer = True
        entity, field, keys = self._walk(path.split("__"), path)
        column = self._column_and_value(entity, field, None, path)[0]
        if keys:
            column = getattr(entity, field)[tuple(keys) if len(keys) > 1 else keys[0]]
        return column.label(path)

    def _walk(self, parts: list[str], raw_key: str) -> tuple[Any, str, list[str]]:
        """Join along relations; return the entity, its field and any JSON keys after it."""
        current: Any = self.model
        path: tuple[str, ...] = ()
        for i, rel in enumerate(parts[:-1]):
            column = inspect(current).mapper.local_table.c.get(rel)
            if column is not None and _is_json(column.type):
                return current, rel, parts[i + 1:]
            target = model_for_relation(current, rel)
            if target is None:
                raise InvalidLookup(
                    f"{self.model.__name__} lookup {raw_key!r}: {rel!r} is not a relation"
                )
            path = (*path, rel)
            if path not in self._joins:
                alias = aliased(target)
                onclause = getattr(current, f"{rel}_id") == alias.id
                self.stmt = (self.stmt.outerjoin(alias, onclause) if self.outer
                             else self.stmt.join(alias, onclause))
                self._joins[path] = alias
            current = self._joins[path]
        return current, parts[-1], []

    def _column_and_value(
        self, entity: Any, field: str, value: Any, raw_key: str
    ) -> tuple[ColumnElement[Any], Any]:
        cls = inspect(entity).mapper.class_
        translate = getattr(cls, "_fl_lookup_alias", {}).get(field)
        if translate is not None:
            field, convert = translate
            value = value if value is None else convert(value)
        if hasattr(value, "__mapper__") and hasattr(entity, f"{field}_id"):
            return getattr(entity, f"{field}_id"), value.id
        if not isinstance(getattr(cls, field, None), QueryableAttribute):
            raise InvalidLookup(
                f"{self.model.__name__} has no field {field!r} (lookup {raw_key!r})"
            )
        return getattr(entity, field), value

    def _feature_clause(self, parts: list[str], op: str, value: Any,
                        raw_key: str) -> ColumnElement[bool]:
        if len(parts) != 1:
            raise InvalidLookup(f"{self.model.__name__} lookup {raw_key!r}: use "
                                "features__<name> or features__<name>__<operator>")
        table, own = self.model._fl_feature_table
        name, compare = parts[0], OPERATORS[op]
        sample = next(iter(value), None) if op == "in" else value
        if _is_number(sample):
            column, text = table.c.value_num, value
        elif op in ("exact", "in", "ne"):  # compare the stored JSON text
            column = cast(table.c.value, String)
            text = [json.dumps(v) for v in value] if op == "in" else json.dumps(value)
        else:
            raise InvalidLookup(f"{self.model.__name__} lookup {raw_key!r}: operator "
                                f"{op!r} needs a number")
        matches = [(table.c.name == name) & compare(column, text)]
        if sample is not None:  # a value in the run's bundle (one JSON row of many values)
            bundled = _json_element(table.c.value[name], op, value)
            matches.append((table.c.name == BUNDLE) & compare(bundled, value))
        matching = table.select().with_only_columns(table.c[own]).where(or_(*matches))
        return self.model.id.in_(matching)  # type: ignore[no-any-return]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_element(element: Any, op: str, value: Any) -> ColumnElement[Any]:
    """A JSON element cast to the type of the value compared with it."""
    sample = next(iter(value), None) if op == "in" else value
    if op in _TEXT_OPS or op == "isnull" or isinstance(sample, str) or sample is None:
        return element.as_string()  # type: ignore[no-any-return]
    if isinstance(sample, bool):
        return element.as_boolean()  # type: ignore[no-any-return]
    if not _is_number(sample):
        raise InvalidLookup(f"cannot compare a JSON value with {type(sample).__name__}")
    number = element.as_float()
    if get_instance().dialect == "postgresql":  # never cast a non-number: PG would raise
        is_number = func.jsonb_typeof(element) == "number"
    else:  # SQLite compares text above every number: keep numbers only
        is_number = func.typeof(number).in_(["integer", "real"])
    return case((is_number, number), else_=None)


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



def _is_json(type_: Any) -> bool:
    """Whether a column type is JSON, directly or behind a ``TypeDecorator`` (JSONType)."""
    return isinstance(getattr(type_, "impl_instance", type_), JSON)

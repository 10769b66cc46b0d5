"""Idempotent bulk helpers adapters use to record runs and links (they never write SQL).

Runs are keyed by ``(reference_type, reference)``; writing the same run twice updates it
instead of duplicating it, which makes every adapter's ingestion idempotent.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from functools import cache
from typing import Any

from sqlalchemy import Select, or_, select

from . import ids, tables
from .direct import send_many
from .engine import get_instance, insert_ignore
from .enums import RunStatus
from .schema import utcnow

BUNDLE = "bundle"
"""Name and dtype of the one feature row holding a run's values not kept apart."""
RUN_UPDATABLE = (
    "name", "description", "transform_id", "entrypoint", "started_at", "finished_at", "params",
    "cli_args", "initiated_by_run_id", "_status_code", "heartbeat_at", "created_by",
    "report_id", "environment_id",
)


def upsert_runs(rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Insert or update runs keyed by ``(reference_type, reference)``; return their ids.

    Each row holds Run column values (``transform_id``, ``reference_type`` and ``reference``
    required; ``status`` may be given by name). Runs in one call are written in one
    transaction; calling again with the same rows changes nothing.
    """
    inst = get_instance()
    now = utcnow()
    prepared = []
    for row in rows:
        row = dict(row)
        if "status" in row:
            row["_status_code"] = int(RunStatus.of(row.pop("status")))
        if "uid" not in row:
            row["uid"] = ids.base62(ids.RUN_UID_LEN)
        row.setdefault("created_at", now)
        row.setdefault("_status_code", int(RunStatus.scheduled))
        prepared.append(row)
    if not prepared:
        return {}
    keys = [(r["reference_type"], r["reference"]) for r in prepared]
    result: dict[tuple[str, str], int] = {}
    run = tables.run
    with inst.write() as s:
        by_columns: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for r in prepared:
            by_columns.setdefault(tuple(sorted(r)), []).append(r)
        for columns, group in by_columns.items():
            send_many(s.connection(), _upsert_statement(inst.dialect, "run", columns), group)
        by_type: dict[str, list[str]] = {}
        for rt, ref in keys:  # one reference_type per query: an index search, not a scan
            by_type.setdefault(rt, []).append(ref)
        for rt, refs in by_type.items():
            for start in range(0, len(refs), 500):
                for ref, rid in s.execute(select(run.c.reference, run.c.id).where(
                        run.c.reference_type == rt,
                        run.c.reference.in_(refs[start : start + 500]))):
                    result[(rt, ref)] = rid
    return result


@cache
def _upsert_statement(dialect: str, table_name: str, columns: tuple[str, ...]) -> Any:
    """``INSERT … ON CONFLICT DO UPDATE`` of ``columns``, built once per column set so
    SQLAlchemy compiles it once (building ``excluded`` proxies is costly). Rows whose values
    are unchanged are left alone, so writing the same rows again rewrites no row or index."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert  # type: ignore[assignment]
    if table_name == "run":
        table, keys = tables.run, ["reference_type", "reference"]
        updatable = [c for c in columns if c in RUN_UPDATABLE]
    else:
        table, keys = tables.run_feature_value, ["run_id", "name"]
        updatable = ["dtype", "value", "value_num"]
    stmt = dialect_insert(table)
    if not updatable:
        return stmt.on_conflict_do_nothing()
    return stmt.on_conflict_do_update(
        index_elements=keys, set_={c: stmt.excluded[c] for c in updatable},
        where=or_(*(table.c[c].is_distinct_from(stmt.excluded[c]) for c in updatable)))


def link_run_inputs(pairs: Iterable[tuple[int, int]]) -> None:
    """Link ``(run_id, artifact_id)`` pairs as run inputs (idempotent)."""
    _link_pairs(tables.run_input_artifact, "run_id", "artifact_id", pairs, {"created_at": utcnow()})


def link_recreated(pairs: Iterable[tuple[int, int]]) -> None:
    """Link ``(run_id, artifact_id)`` pairs as 'run recreated artifact' (idempotent)."""
    _link_pairs(tables.artifact_recreating_run, "run_id", "artifact_id", pairs,
                {"created_at": utcnow()})


def link_run_results(pairs: Iterable[tuple[int, int]]) -> None:
    """Link ``(run_id, input_run_id)`` pairs: the run used the in-memory result of the
    input run (result edges; idempotent)."""
    _link_pairs(tables.run_input_run, "run_id", "input_run_id", pairs, {})


def _link_pairs(table: Any, left: str, right: str, pairs: Iterable[tuple[int, int]],
                extra: dict[str, Any]) -> None:
    rows = [{left: a, right: b, **extra} for a, b in dict.fromkeys(pairs)]
    if not rows:
        return
    inst = get_instance()
    with inst.write() as s:
        for start in range(0, len(rows), 2000):
            s.execute(insert_ignore(inst.dialect, table), rows[start : start + 2000])


def set_run_features(values_by_run: dict[int, dict[str, Any]],
                     apart: Container[str] | None = None) -> None:
    """Set typed feature values of runs in one transaction (replacing same-named values).

    By default each value is a row of its own, numbers indexed (``value_num``). With
    ``apart``, only those names get rows of their own; the other values of a run share one
    JSON row (dtype ``bundle``), which ``feature_values`` unpacks and ``value[name]`` JSON
    lookups query: bulk metrics cost one row per run instead of one per value.
    """
    rows = []
    for run_id, values in values_by_run.items():
        bundle: dict[str, Any] = {}
        for name, value in values.items():
            if apart is not None and name not in apart:
                bundle[name] = value
                continue
            rows.append({
                "run_id": run_id, "name": name, "dtype": _dtype(value), "value": value,
                "value_num": float(value) if isinstance(value, int | float)
                and not isinstance(value, bool) else None,
            })
        if bundle:
            rows.append({"run_id": run_id, "name": BUNDLE, "dtype": BUNDLE, "value": bundle,
                         "value_num": None})
    if not rows:
        return
    inst = get_instance()
    with inst.write() as s:
        send_many(s.connection(), _upsert_statement(inst.dialect, "run_feature_value", ()), rows)


def feature_values(rows: Iterable[tuple[str, str, Any]]) -> dict[str, Any]:
    """Feature values by name from ``(name, dtype, value)`` rows, bundles unpacked (a value
    with a row of its own wins over a bundled one)."""
    out: dict[str, Any] = {}
    own: dict[str, Any] = {}
    for name, dtype, value in rows:
        if dtype == BUNDLE:
            out.update(value)
        else:
            own[name] = value
    return out | own


def _dtype(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "str"
    return "json"


def run_ids_with_feature(name: str) -> Select[tuple[int]]:
    """A subquery of the ids of runs that have a feature value named ``name`` (a row of its
    own or in a bundle)."""
    t = tables.run_feature_value
    bundled = (t.c.name == BUNDLE) & t.c.value[name].as_string().is_not(None)
    return select(t.c.run_id).where((t.c.name == name) | bundled)


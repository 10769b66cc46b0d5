"""Idempotent bulk helpers adapters use to record runs and links (they never write SQL).

Runs are keyed by ``(reference_type, reference)``; writing the same run twice updates it
instead of duplicating it, which makes every adapter's ingestion idempotent.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, case, func, or_, select
from sqlalchemy.orm import Session

from . import ids, tables
from .direct import send_many
from .engine import dialect_insert, get_instance, insert_ignore
from .enums import RunStatus
from .schema import utcnow

BUNDLE = "bundle"
"""Name and dtype of the one feature row holding a run's values not kept apart."""
RUN_UPDATABLE = (
    "name", "description", "transform_id", "entrypoint", "started_at", "finished_at", "params",
    "cli_args", "initiated_by_run_id", "_status_code", "heartbeat_at", "created_by",
    "report_id", "environment_id", "source_digest",
)


def upsert_runs(rows: list[dict[str, Any]]) -> dict[tuple[str, str], int]:
    """Insert or update runs keyed by ``(reference_type, reference)``; return their ids.

    Each row holds Run column values (``transform_id``, ``reference_type`` and ``reference``
    required; ``status`` may be given by name). Runs in one call are written in one
    transaction; calling again with the same rows changes nothing.
    """
    inst = get_instance()
    prepared = []
    for row in rows:
        row = dict(row)
        if "status" in row:
            row["_status_code"] = int(RunStatus.of(row.pop("status")))
        if "uid" not in row:
            row["uid"] = ids.base62(ids.RUN_UID_LEN)
        row.setdefault("_status_code", int(RunStatus.scheduled))
        prepared.append(row)
    if not prepared:
        return {}
    keys = [(r["reference_type"], r["reference"]) for r in prepared]
    key = ("reference_type", "reference")
    with inst.write() as s:
        if inst.dialect != "sqlite":
            _send_upserts(s, inst.dialect, "run", prepared, (), key)
            return _run_ids(s, keys)
        known = _run_ids(s, keys)
        last = s.scalar(_LAST_RUN_ID) or 0
        added = _send_upserts(s, inst.dialect, "run", prepared, known, key)
        if s.scalar(_LAST_RUN_ID) == last + len(added):  # SQLite gave each new row the
            # largest id plus one, as it does unless ids run out: no need to look them up
            return known | dict(zip(added, range(last + 1, last + len(added) + 1), strict=True))
        return known | _run_ids(s, added)


def _run_ids(s: Session, keys: list[tuple[str, str]]) -> dict[tuple[str, str], int]:
    """Ids of the runs with these ``(reference_type, reference)`` keys that exist."""
    by_type: dict[str, list[str]] = {}
    for rt, ref in keys:  # one reference_type per query: an index search, not a scan
        by_type.setdefault(rt, []).append(ref)
    found: dict[tuple[str, str], int] = {}
    for rt, refs in by_type.items():
        for start in range(0, len(refs), 500):
            for ref, rid in s.execute(_RUN_IDS, {"rt": rt, "refs": refs[start : start + 500]}):
                found[(rt, ref)] = rid
    return found


_LAST_RUN_ID = select(func.max(tables.run.c.id))
_RUN_IDS = select(tables.run.c.reference, tables.run.c.id).where(
    tables.run.c.reference_type == bindparam("rt"),
    tables.run.c.reference.in_(bindparam("refs", expanding=True)))
_FEATURES = select(
    tables.run_feature_value.c.run_id, tables.run_feature_value.c.name,
    case((tables.run_feature_value.c.dtype == BUNDLE, tables.run_feature_value.c.value),
         else_=None),
).where(tables.run_feature_value.c.run_id.in_(bindparam("ids", expanding=True)))
"""Lookups built once, so SQLAlchemy compiles each once and binds a list per call."""


def _send_upserts(s: Session, dialect: str, table_name: str, rows: list[dict[str, Any]],
                  known: Container[tuple[Any, Any]], key: tuple[str, str]) -> list[Any]:
    """Send ``rows``, grouped by their columns, as upserts keyed by ``key``; on SQLite the
    rows whose key is not ``known`` go first as plain INSERTs (an upsert costs SQLite about
    twice an insert; the open write transaction holds the database's one write lock, so no
    other writer adds them meanwhile). PostgreSQL upserts every row. Returns the keys of
    the rows inserted plainly, in the order they were inserted."""
    groups: dict[tuple[bool, tuple[str, ...]], list[dict[str, Any]]] = {}
    added: set[tuple[Any, Any]] = set()
    for row in rows:
        row_key = (row[key[0]], row[key[1]])
        plain = dialect == "sqlite" and row_key not in known and row_key not in added
        if plain:
            added.add(row_key)
        groups.setdefault((not plain, tuple(row)), []).append(row)
    inserted: list[Any] = []
    for (upsert, columns), group in sorted(groups.items(), key=lambda item: item[0][0]):
        send_many(s.connection(), _upsert_statement(dialect, table_name, columns) if upsert
                  else _insert_statement(table_name), group)
        if not upsert:
            inserted.extend((row[key[0]], row[key[1]]) for row in group)
    return inserted


def recorded_digests(reference_type: str, initiated_by_run_id: int) -> dict[str, tuple[int, str]]:
    """``reference -> (id, source_digest)`` of the runs of ``reference_type`` that run
    ``initiated_by_run_id`` started and that carry a digest: re-ingestion skips a record whose
    digest is unchanged."""
    run = tables.run
    stmt = select(run.c.reference, run.c.id, run.c.source_digest).where(
        run.c.initiated_by_run_id == initiated_by_run_id, run.c.reference_type == reference_type,
        run.c.source_digest.is_not(None))
    with get_instance().read() as s:
        return {ref: (rid, digest) for ref, rid, digest in s.execute(stmt)}


_RECORDED_RUNS = select(tables.run.c.reference, tables.run.c.id, tables.run.c._status_code).where(
    tables.run.c.reference_type == bindparam("type"),
    tables.run.c.reference.in_(bindparam("refs", expanding=True)))


def recorded_runs(reference_type: str, references: list[str]) -> dict[str, tuple[int, int]]:
    """``reference -> (id, status code)`` of the runs of ``reference_type`` with these
    references that exist (one read per 500 references, in this thread's write transaction
    if one is open)."""
    found: dict[str, tuple[int, int]] = {}
    with get_instance().connection() as conn:
        for start in range(0, len(references), 500):
            for ref, rid, code in conn.execute(_RECORDED_RUNS, {
                    "type": reference_type, "refs": references[start : start + 500]}):
                found[ref] = (rid, code)
    return found


@cache
def _insert_statement(table_name: str) -> Any:
    """A plain INSERT into ``table_name``, built once so it is compiled once."""
    return tables.metadata.tables[table_name].insert()


@cache
def _upsert_statement(dialect: str, table_name: str, columns: tuple[str, ...]) -> Any:
    """``INSERT … ON CONFLICT DO UPDATE`` of ``columns``, built once per column set so
    SQLAlchemy compiles it once (building ``excluded`` proxies is costly). Rows whose values
    are unchanged are left alone, so writing the same rows again rewrites no row or index."""
    if table_name == "run":
        table, keys = tables.run, ["reference_type", "reference"]
        updatable = [c for c in columns if c in RUN_UPDATABLE]
    else:
        table, keys = tables.run_feature_value, ["run_id", "name"]
        updatable = ["dtype", "value", "value_num"]
    stmt = dialect_insert(dialect)(table)
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
    JSON row (dtype ``bundle``), which ``feature_values`` unpacks and ``features__<name>``
    lookups search: bulk metrics cost one row per run instead of one per value. A bundle is
    merged into the run's recorded one, so values set earlier under other names stay, as
    rows of their own would.
    """
    rows = []
    for run_id, values in values_by_run.items():
        bundle: dict[str, Any] = {}
        if apart is not None:  # an empty ``apart`` bundles every value as it is
            bundle = {n: v for n, v in values.items() if n not in apart} if apart else values
            values = {n: v for n, v in values.items() if n in apart} if apart else {}
        for name, value in values.items():
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
        known, bundles = _recorded_features(s, list(values_by_run))
        for row in rows:
            if row["dtype"] == BUNDLE and row["run_id"] in bundles:
                row["value"] = bundles[row["run_id"]] | row["value"]
        _send_upserts(s, inst.dialect, "run_feature_value", rows,
                      known if inst.dialect == "sqlite" else (), ("run_id", "name"))


def _recorded_features(s: Session, run_ids: list[int]
                       ) -> tuple[set[tuple[int, str]], dict[int, dict[str, Any]]]:
    """``(run_id, name)`` of the feature values these runs have, and their bundles."""
    keys: set[tuple[int, str]] = set()
    bundles: dict[int, dict[str, Any]] = {}
    for start in range(0, len(run_ids), 500):
        for run_id, name, bundle in s.execute(_FEATURES, {"ids": run_ids[start : start + 500]}):
            keys.add((run_id, name))
            if bundle is not None:
                bundles[run_id] = bundle
    return keys, bundles


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


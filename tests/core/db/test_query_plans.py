"""The lookups that must stay fast at scale use indexes, not table scans (SQLite plans)."""

from __future__ import annotations

from typing import Any

import flowlineage as fl
from flowlineage.artifact.save import _statements as save_statements
from flowlineage.db.engine import Instance
from sqlalchemy import text
from sqlalchemy.dialects import sqlite


def _plan(inst: Instance, qs: Any) -> str:
    compiled = qs.statement.compile(dialect=sqlite.dialect(),
                                    compile_kwargs={"literal_binds": True})
    with inst.engine.connect() as conn:
        rows = conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
    return " | ".join(str(r[-1]) for r in rows)


def test_hot_lookups_use_indexes(instance: Instance) -> None:
    plans = {
        "artifact by key": _plan(instance, fl.Artifact.filter(key="a/b.txt")),
        "run by reference": _plan(instance, fl.Run.filter(reference="r1")),
        "run by reference_type+reference": _plan(
            instance, fl.Run.filter(reference_type="x", reference="r1")),
        "artifact by hash": _plan(instance, fl.Artifact.filter(hash="00")),
        "runs of a transform": _plan(instance, fl.Run.filter(transform_id=1)),
        "outputs of a run": _plan(instance, fl.Artifact.filter(run_id=1)),
    }
    for name, plan in plans.items():
        assert "USING" in plan and "SCAN" not in plan, f"{name}: {plan}"


def test_save_version_lookups_seek_the_key_index(instance: Instance) -> None:
    """Each save looks up the latest version of its key: a seek on (key, is_latest), not a
    walk over every artifact of the storage (which made one-by-one saves quadratic)."""
    statements = save_statements()
    lookups: dict[str, dict[str, Any]] = {"latest_of_key": {"key": "a/b.txt"},
                                          "latest_by_key": {"keys": ["a", "b"]}}
    for name, values in lookups.items():
        stmt = statements[name].params(**values)
        compiled = stmt.compile(dialect=sqlite.dialect(), compile_kwargs={
            "literal_binds": True, "render_postcompile": True})
        with instance.engine.connect() as conn:
            rows = conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")).all()
        plan = " | ".join(str(r[-1]) for r in rows)
        assert "INDEX ix_artifact_key_is_latest" in plan, f"{name}: {plan}"

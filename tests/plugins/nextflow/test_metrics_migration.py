"""A store written at revision 0002 (a task's queried metrics in rows of their own beside its
bundle) migrates to one metrics row per task that still answers ``Run.filter`` on a metric."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import flowlineage as fl
import pytest
from alembic import command
from flowlineage.db import migrations, tables
from sqlalchemy import create_engine, func, select


@pytest.fixture(params=["sqlite", "postgres"])
def old_store(request: pytest.FixtureRequest, fl_home: Path) -> Iterator[str]:
    """The URL of a database at 0002 holding a workflow run and two task runs."""
    if request.param == "postgres":
        url: str = request.getfixturevalue("postgres_url")
    else:
        fl_home.mkdir(parents=True)
        url = f"sqlite:///{fl_home / 'old.db'}"
    engine = create_engine(url)
    now = datetime(2024, 1, 1, tzinfo=UTC)
    with engine.begin() as conn:
        command.upgrade(migrations.alembic_config(conn), "0002")
    with engine.begin() as conn:
        conn.execute(tables.transform.insert().values(
            id=1, uid="tf0000000000" + "0000", key="nextflow:p", type="pipeline",
            is_latest=True, created_at=now))
        conn.execute(tables.run.insert(), [
            {"id": i, "uid": f"run{i:013d}", "transform_id": 1, "_status_code": code,
             "reference_type": rt, "reference": ref, "created_at": now}
            for i, code, rt, ref in [(1, 0, "nextflow_run", "r"), (2, 0, "nextflow_task", "r:a"),
                                     (3, 1, "nextflow_task", "r:b")]])
        conn.execute(tables.run_feature_value.insert(), [
            {"run_id": run_id, "name": name, "dtype": dtype, "value": value,
             "value_num": value if isinstance(value, int) and dtype != "bundle" else None}
            for run_id, name, dtype, value in [
                (1, "tasks", "int", 2),
                (2, "exit", "int", 0), (2, "peak_rss", "int", 2**20),
                (2, "bundle", "bundle", {"duration": 80, "host": "n1"}),
                (3, "exit", "int", 1), (3, "peak_rss", "int", 2**31),
                (3, "bundle", "bundle", {"duration": 9000, "exit": 99})]])
    engine.dispose()
    yield url


def test_queried_metrics_move_into_the_bundle(old_store: str, fl_home: Path) -> None:
    fl.connect(old_store, storage=str(fl_home / "storage"))  # migrates to head
    try:
        t = tables.run_feature_value
        with fl.get_instance().read() as s:
            rows = s.execute(select(t.c.run_id, t.c.name, t.c.value).order_by(t.c.run_id))
            assert [tuple(r) for r in rows] == [
                (1, "tasks", 2),  # no bundle: left alone
                (2, "bundle", {"duration": 80, "host": "n1", "exit": 0, "peak_rss": 2**20}),
                (3, "bundle", {"duration": 9000, "exit": 1, "peak_rss": 2**31}),  # own won
            ]
            assert s.scalar(select(func.count()).select_from(tables.run).where(
                tables.run.c.source_digest.is_not(None))) == 0
        assert [r.id for r in fl.Run.filter(features__exit=1)] == [3]
        assert [r.id for r in fl.Run.filter(features__peak_rss__gt=2**30)] == [3]
        assert [r.id for r in fl.Run.filter(features__host="n1")] == [2]
        assert [r.id for r in fl.Run.filter(features__tasks=2)] == [1]
        assert fl.Run.get(3).features.get_values() == {"duration": 9000, "exit": 1,
                                                       "peak_rss": 2**31}
    finally:
        fl.disconnect()

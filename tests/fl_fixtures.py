"""Fixtures giving tests a connected flowlineage instance (SQLite, PostgreSQL, S3 storage)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import flowlineage as fl
import pytest
from flowlineage.db.engine import Instance

FIXTURES = Path(__file__).resolve().parent / "fixtures"
"""The data files tests read (real Nextflow traces, records...); sources in SOURCES.md."""


@pytest.fixture
def fl_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh FLOWLINEAGE_HOME with no database or storage override."""
    home = tmp_path / "flhome"
    monkeypatch.setenv("FLOWLINEAGE_HOME", str(home))
    monkeypatch.delenv("FLOWLINEAGE_DB", raising=False)
    monkeypatch.delenv("FLOWLINEAGE_STORAGE", raising=False)
    monkeypatch.delenv("FLOWLINEAGE_PARENT_RUN", raising=False)
    monkeypatch.delenv("FLOWLINEAGE_RUN", raising=False)
    return home


@pytest.fixture
def instance(fl_home: Path) -> Iterator[Instance]:
    """The embedded default: SQLite and local storage under a temp FLOWLINEAGE_HOME."""
    inst = fl.connect()
    yield inst
    fl.disconnect()


@pytest.fixture
def pg_instance(fl_home: Path, postgres_url: str) -> Iterator[Instance]:
    """A PostgreSQL-backed instance (fresh database) with local storage."""
    inst = fl.connect(postgres_url, storage=str(fl_home / "storage"))
    yield inst
    fl.disconnect()


@pytest.fixture(params=["sqlite", "postgres"])
def any_instance(request: pytest.FixtureRequest, fl_home: Path) -> Iterator[Instance]:
    """The same test on SQLite and on PostgreSQL."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        inst = fl.connect(url, storage=str(fl_home / "storage"))
    else:
        inst = fl.connect()
    yield inst
    fl.disconnect()


@pytest.fixture
def s3_instance(
    fl_home: Path, s3_server: object, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Instance]:
    """SQLite metadata with the default storage on the S3 test server."""
    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)  # type: ignore[attr-defined]
    from flowlineage.storage.backends import backend_for

    backend_for.cache_clear()
    inst = fl.connect(storage=f"s3://{s3_bucket}/lineage")
    yield inst
    fl.disconnect()
    backend_for.cache_clear()

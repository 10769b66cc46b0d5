"""Real Prefect for the adapter tests: one ephemeral API server for the whole session.

The Prefect environment is set when this file is imported, before anything imports
prefect: a temporary PREFECT_HOME, no analytics, no PREFECT_API_URL (RECIPES.md).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator

import pytest

_PREFECT_HOME = tempfile.mkdtemp(prefix="fl-prefect-home-")
os.environ["PREFECT_HOME"] = _PREFECT_HOME
os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
os.environ.pop("PREFECT_API_URL", None)


@pytest.fixture(scope="session")
def prefect_server() -> Iterator[None]:
    """Prefect's test harness (an ephemeral API server on a temporary database)."""
    pytest.importorskip("prefect")
    from prefect.testing.utilities import prefect_test_harness

    try:
        with prefect_test_harness(server_startup_timeout=120):
            yield
    finally:
        shutil.rmtree(_PREFECT_HOME, ignore_errors=True)


@pytest.fixture(autouse=True)
def _prefect(prefect_server: None) -> None:
    """Every test here runs against the session's Prefect server."""

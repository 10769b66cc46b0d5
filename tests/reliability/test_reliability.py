"""The reliability suite (issue 23, ``slow``): every concurrency and fault scenario repeated
with more writers and saves than the quick tests (tests/core/test_faults.py,
tests/core/artifact/test_races.py), each a fixed amount of work. Nothing may be lost,
duplicated, orphaned or corrupted; ``summary`` prints each scenario's figures at the end of
the session (see ``conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import fl_scenarios as sc
import pytest
from fl_scenarios import Figures
from flowlineage.db.engine import Instance

pytestmark = pytest.mark.slow

Summary = Callable[[Figures], Figures]
Scenario = Callable[[Instance, Path, str, int, int], Figures]


@pytest.mark.parametrize(("scenario", "writer", "per"), [
    (sc.processes_saving, "one-by-one", 60), (sc.processes_saving, "bulk", 300),
    (sc.threads_saving, "one-by-one", 40), (sc.threads_saving, "bulk", 200),
], ids=["processes-one-by-one", "processes-bulk", "threads-one-by-one", "threads-bulk"])
def test_concurrent_savers(any_instance: Instance, tmp_path: Path, summary: Summary,
                           scenario: Scenario, writer: str, per: int) -> None:
    figures = summary(scenario(any_instance, tmp_path, writer, 6, per))
    assert figures.saves == 6 * per
    assert not figures.faults(), figures.line()


def test_versions_of_one_key(any_instance: Instance, tmp_path: Path, summary: Summary) -> None:
    figures = summary(sc.versions_of_one_key(any_instance, tmp_path, writers=8, per=15))
    assert figures.saves == 8 * 15
    assert not figures.faults(), figures.line()


@pytest.mark.parametrize("sizes", [(3000, 5000), (3 * 2**20, 2 * 2**20)], ids=["small", "large"])
def test_file_rewritten_during_save(instance: Instance, tmp_path: Path, summary: Summary,
                                    sizes: tuple[int, ...]) -> None:
    figures = summary(sc.rewritten_during_save(instance, tmp_path, saves=100, sizes=sizes))
    assert figures.saves + figures.refused == 100 and figures.saves > 0
    assert not figures.faults(), figures.line()


def test_truncated_while_hashed(instance: Instance, tmp_path: Path, summary: Summary) -> None:
    figures = summary(sc.truncated_while_hashed(instance, tmp_path, saves=20))
    assert figures.saves + figures.refused == 20
    assert not figures.faults(), figures.line()


def test_killed_during_bulk_saves(any_instance: Instance, tmp_path: Path,
                                  summary: Summary) -> None:
    """Copies a killed writer made but did not record are left (storage comes first) and
    ``flowlineage gc`` removes them all, and nothing recorded."""
    figures = summary(sc.killed_during_bulk_saves(any_instance, tmp_path, kills=5, per=100))
    assert figures.saves >= 100  # every killed writer had saved a batch
    assert not figures.faults(), figures.line()

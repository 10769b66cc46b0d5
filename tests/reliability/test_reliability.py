"""The reliability suite (issue 23, ``slow``): every concurrency and fault scenario repeated
with more writers and saves than the quick tests (tests/core/test_concurrency.py,
tests/core/test_faults.py, tests/core/artifact/test_races.py), each a fixed amount of work.
Nothing may be lost, duplicated, orphaned or corrupted; the figures are printed at the end
of the session (see ``conftest.py``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import fl_scenarios as sc
import pytest
from fl_scenarios import Figures
from flowlineage.db.engine import Instance

pytestmark = pytest.mark.slow

Record = Callable[[Figures], Figures]


@pytest.mark.parametrize("writer", ["one-by-one", "bulk"])
def test_processes_saving(any_instance: Instance, tmp_path: Path, record: Record,
                          writer: str) -> None:
    per = 60 if writer == "one-by-one" else 300
    figures = record(sc.processes_saving(any_instance, tmp_path, writer, writers=6, per=per))
    assert figures.saves == 6 * per
    assert not figures.faults(), figures.line()


@pytest.mark.parametrize("writer", ["one-by-one", "bulk"])
def test_threads_saving(any_instance: Instance, tmp_path: Path, record: Record,
                        writer: str) -> None:
    per = 40 if writer == "one-by-one" else 200
    figures = record(sc.threads_saving(any_instance, tmp_path, writer, writers=6, per=per))
    assert figures.saves == 6 * per
    assert not figures.faults(), figures.line()


def test_versions_of_one_key(any_instance: Instance, tmp_path: Path, record: Record) -> None:
    figures = record(sc.versions_of_one_key(any_instance, tmp_path, writers=8, per=15))
    assert figures.saves == 8 * 15
    assert not figures.faults(), figures.line()


@pytest.mark.parametrize("sizes", [(3000, 5000), (3 * 2**20, 2 * 2**20)], ids=["small", "large"])
def test_file_rewritten_during_save(instance: Instance, tmp_path: Path, record: Record,
                                    sizes: tuple[int, ...]) -> None:
    figures = record(sc.rewritten_during_save(instance, tmp_path, saves=100, sizes=sizes))
    assert figures.saves + figures.refused == 100 and figures.saves > 0
    assert not figures.faults(), figures.line()


def test_truncated_while_hashed(instance: Instance, tmp_path: Path, record: Record) -> None:
    figures = record(sc.truncated_while_hashed(instance, tmp_path, saves=20))
    assert figures.saves + figures.refused == 20
    assert not figures.faults(), figures.line()


def test_killed_during_bulk_saves(any_instance: Instance, tmp_path: Path,
                                  record: Record) -> None:
    figures = record(sc.killed_during_bulk_saves(any_instance, tmp_path, kills=5, per=100))
    assert figures.saves >= 100  # every killed writer had saved a batch
    assert figures.lost == figures.duplicated == figures.corrupted == 0, figures.line()

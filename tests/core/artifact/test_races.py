"""Races between a save and its world: files rewritten mid-save, overlapping bulk saves,
concurrent versions of one key. Nothing may be lost, corrupted or orphaned."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import fl_scenarios as sc
import flowlineage as fl
import pytest
from flowlineage.db.engine import Instance
from flowlineage.errors import ContentChanged
from flowlineage.storage.hashing import hash_file
from flowlineage.storage.roots import register_storage


@pytest.mark.parametrize("sizes", [(3000, 5000), (3 * 2**20, 2 * 2**20)], ids=["small", "large"])
def test_file_rewritten_during_save_is_never_stored_corrupt(
    instance: Instance, tmp_path: Path, sizes: tuple[int, ...]
) -> None:
    figures = sc.rewritten_during_save(instance, tmp_path, saves=30, sizes=sizes)
    assert figures.saves, f"every save was refused ({figures.refused})"
    assert not figures.faults(), figures.line()  # staged copies count as orphans


def test_truncated_while_hashed_is_a_clean_error_or_a_consistent_save(
    instance: Instance, tmp_path: Path
) -> None:
    """Shrinking a large file under the hasher must never kill the process (SIGBUS)."""
    figures = sc.truncated_while_hashed(instance, tmp_path, saves=5)
    assert figures.saves + figures.refused == 5
    assert not figures.faults(), figures.line()


def test_in_place_file_changing_under_the_hasher_is_refused(
    instance: Instance, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    register_storage(str(root))
    path = root / "live.bin"
    path.write_bytes(os.urandom(3 * 2**20))
    stop = threading.Event()
    writer = threading.Thread(target=sc.rewrite, args=(path, stop, (3 * 2**20, 2**20)))
    writer.start()
    outcomes = []
    try:
        for _ in range(10):
            try:
                art = fl.Artifact(path, key=None).save()
                outcomes.append(art)
            except ContentChanged:
                outcomes.append(None)
    finally:
        stop.set()
        writer.join()
    assert len(outcomes) == 10
    for art in outcomes:  # in place: nothing copied, each a whole version (or the emptied file)
        if art is not None:
            assert not art._key_is_virtual and art.size in (3 * 2**20, 2**20, 0)
    settled = fl.Artifact(path).save()
    assert (settled.hash, settled.size) == hash_file(path)
    assert not sc.stored_files(instance)


# ---------------------------------------------------------------- overlapping saves


def test_concurrent_bulk_saves_with_overlap_adopt_the_winner(
    any_instance: Instance, tmp_path: Path
) -> None:
    figures = sc.processes_saving(any_instance, tmp_path, "bulk", writers=4, per=150)
    assert figures.saves == 4 * 150
    assert not figures.faults(), figures.line()


def test_threads_bulk_saving_overlapping_files(any_instance: Instance, tmp_path: Path) -> None:
    figures = sc.threads_saving(any_instance, tmp_path, "bulk", writers=4, per=120)
    assert figures.saves == 4 * 120
    assert not figures.faults(), figures.line()


def test_concurrent_versions_of_one_key_are_all_kept(any_instance: Instance,
                                                      tmp_path: Path) -> None:
    figures = sc.versions_of_one_key(any_instance, tmp_path, writers=8, per=8)
    assert figures.saves == 64
    assert not figures.faults(), figures.line()

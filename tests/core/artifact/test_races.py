"""Races between a save and its world: files rewritten mid-save, overlapping bulk saves,
concurrent versions of one key. Nothing may be lost, corrupted or orphaned."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import flowlineage as fl
import pytest
from flowlineage.db.engine import Instance
from flowlineage.errors import ContentChanged
from flowlineage.storage.hashing import hash_file
from flowlineage.storage.roots import register_storage


def _stored_files(inst: Instance, suffix: str = "") -> set[str]:
    """Names of the copies in the default storage, those ending in ``suffix``."""
    folder = Path(inst.storage_root, ".flowlineage")
    return {p.name for p in folder.glob(f"*{suffix}") if p.is_file()}


def _rewrite(path: Path, stop: threading.Event, sizes: tuple[int, ...]) -> None:
    """Rewrite ``path`` over and over with new bytes of changing sizes."""
    i = 0
    while not stop.is_set():
        with open(path, "wb") as f:
            f.write(os.urandom(sizes[i % len(sizes)]))
        i += 1
        time.sleep(0.002)


@pytest.mark.parametrize("sizes", [(3000, 5000), (3 * 2**20, 2 * 2**20)], ids=["small", "large"])
def test_file_rewritten_during_save_is_never_stored_corrupt(
    instance: Instance, tmp_path: Path, sizes: tuple[int, ...]
) -> None:
    path = tmp_path / "busy.bin"
    path.write_bytes(os.urandom(sizes[0]))
    stop = threading.Event()
    writer = threading.Thread(target=_rewrite, args=(path, stop, sizes))
    writer.start()
    saved, refused = [], 0
    try:
        for i in range(30):
            try:
                saved.append(fl.Artifact(path, key=f"busy/{i}.bin").save())
            except ContentChanged as e:
                assert str(path) in str(e)
                refused += 1
    finally:
        stop.set()
        writer.join()
    assert saved, f"every save was refused ({refused})"
    for art in saved:
        stored = Path(instance.storage_root, art._storage_key)
        assert hash_file(stored) == (art.hash, art.size)
    assert len(_stored_files(instance)) == fl.Artifact.filter().count()  # no stray copies
    staging = Path(instance.storage_root, ".flowlineage", "staging")
    assert not staging.exists() or not any(staging.iterdir())


def test_truncated_while_hashed_is_a_clean_error_or_a_consistent_save(
    instance: Instance, tmp_path: Path
) -> None:
    """Shrinking a large file under the hasher must never kill the process (SIGBUS)."""
    script = """
import os, sys, threading, flowlineage as fl
from flowlineage.errors import ContentChanged
fl.connect()
path = sys.argv[1]
def shrink():
    for n in range(200):
        with open(path, "r+b") as f:
            f.truncate(2**20 * (1 + n % 3))
        with open(path, "ab") as f:
            f.write(os.urandom(2**20 * 40))
t = threading.Thread(target=shrink); t.start()
outcomes = []
for i in range(5):
    try:
        fl.Artifact(path, key=f"shrink/{i}").save(); outcomes.append("saved")
    except ContentChanged:
        outcomes.append("refused")
t.join()
print(" ".join(outcomes))
"""
    path = tmp_path / "big.bin"
    path.write_bytes(os.urandom(40 * 2**20))
    done = subprocess.run([sys.executable, "-c", script, str(path)], capture_output=True,
                          text=True, env=os.environ.copy(), timeout=300)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.split()) == 5


def test_in_place_file_changing_under_the_hasher_is_refused(
    instance: Instance, tmp_path: Path
) -> None:
    root = tmp_path / "root"
    root.mkdir()
    register_storage(str(root))
    path = root / "live.bin"
    path.write_bytes(os.urandom(3 * 2**20))
    stop = threading.Event()
    writer = threading.Thread(target=_rewrite, args=(path, stop, (3 * 2**20, 2**20)))
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
    assert not _stored_files(instance)


# ---------------------------------------------------------------- overlapping bulk saves

BULK = """
import sys, time, pathlib, flowlineage as fl
fl.connect(sys.argv[1], storage=sys.argv[2])
d = pathlib.Path(sys.argv[3]); d.mkdir(parents=True, exist_ok=True)
paths = []
for i in range(int(sys.argv[5])):
    p = d / f"s{i}.txt"; p.write_text(f"shared {i}"); paths.append(p)   # same in every writer
    q = d / f"u{i}.txt"; q.write_text(f"{d.name} {i}"); paths.append(q)  # own content
start = float(sys.argv[4])
while time.time() < start:
    time.sleep(0.001)
with fl.track(transform="bulk-" + d.name) as run:
    arts = fl.save([fl.Artifact(p) for p in paths])
assert all(a.id is not None for a in arts)
print(run.id)
"""


def test_concurrent_bulk_saves_with_overlap_adopt_the_winner(
    any_instance: Instance, tmp_path: Path
) -> None:
    url = any_instance.engine.url.render_as_string(hide_password=False)
    writers, per = 4, 150
    start = str(time.time() + 4)
    procs = [subprocess.Popen(
        [sys.executable, "-c", BULK, url, any_instance.storage_root, str(tmp_path / f"w{i}"),
         start, str(per)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=os.environ.copy()) for i in range(writers)]
    run_ids = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        run_ids.append(int(out))
    # the data files only: each run also stores its report and requirements.txt
    data = fl.Artifact.filter(suffix=".txt", kind=None)
    assert data.count() == per + writers * per
    assert {r.status for r in fl.Run.filter(id__in=run_ids)} == {"completed"}
    stored = {Path(a._storage_key).name for a in fl.Artifact.filter(suffix=".txt").all()}
    assert _stored_files(any_instance, ".txt") == stored  # no orphans


def test_threads_bulk_saving_the_same_files(any_instance: Instance, tmp_path: Path) -> None:
    paths = []
    for i in range(120):
        p = tmp_path / f"{i}.txt"
        p.write_text(f"content {i}")
        paths.append(p)
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []
    results: list[list[fl.Artifact]] = []

    def work() -> None:
        barrier.wait()
        try:
            results.append(fl.save([fl.Artifact(p) for p in paths]))
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(a.id is not None for batch in results for a in batch)
    assert {tuple(a.id for a in batch) for batch in results}.__len__() == 1
    assert fl.Artifact.filter().count() == 120
    assert len(_stored_files(any_instance)) == 120


# ---------------------------------------------------------------- versions of one key


def test_concurrent_versions_of_one_key_are_all_kept(any_instance: Instance,
                                                      tmp_path: Path) -> None:
    writers, per = 8, 8
    barrier = threading.Barrier(writers)
    errors: list[BaseException] = []

    def work(w: int) -> None:
        barrier.wait()
        for i in range(per):
            p = tmp_path / f"{w}-{i}.txt"
            p.write_text(f"version {w} {i}")
            try:
                fl.Artifact(p, key="one/key.txt").save()
            except BaseException as e:  # reported below
                errors.append(e)

    threads = [threading.Thread(target=work, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    family = fl.Artifact.filter(key="one/key.txt").all()
    assert len(family) == writers * per
    assert len({a.uid[:16] for a in family}) == 1
    assert sum(a.is_latest for a in family) == 1

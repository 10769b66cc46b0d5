"""Issue 23's concurrency and fault scenarios, shared by the quick tests and the ``slow``
reliability suite (``tests/reliability/``): the same scenario runs with few or many writers
and saves, and returns its :class:`Figures`.

Figures come from :func:`audit`, which compares the artifact table with the bytes in the
default storage: *lost* content a writer saved that has no row, or a row whose bytes are
missing; *duplicated* rows of the same content (or the same version uid); *orphaned* stored
files no row points at (staged leftovers included); *corrupted* rows whose stored bytes do
not hash to their hash.

Writers in other processes run this file as a script (``python fl_scenarios.py WRITER ...``),
so threads and processes save through the same code.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import flowlineage as fl
from flowlineage.artifact.gc import collect_garbage
from flowlineage.db import tables
from flowlineage.db.engine import Instance
from flowlineage.errors import ContentChanged
from flowlineage.storage.hashing import hash_bytes, hash_file
from sqlalchemy import select

STORE = ".flowlineage"
"""The default storage's folder of content-addressed copies (and their staging folder)."""


@dataclass
class Figures:
    """What one scenario did and what the audit found."""

    scenario: str
    writers: int
    saves: int
    lost: int = 0
    duplicated: int = 0
    orphaned: int = 0
    corrupted: int = 0
    refused: int = 0
    """Saves refused with a clean error (``ContentChanged``): allowed, and counted."""
    collected: int = 0
    """Orphaned copies ``flowlineage gc`` removed before the audit (killed writers)."""

    def line(self) -> str:
        """One line for a summary table."""
        return (f"{self.scenario:<44} writers {self.writers:>3}  saves {self.saves:>6}  "
                f"lost {self.lost}  duplicated {self.duplicated}  orphaned {self.orphaned}  "
                f"corrupted {self.corrupted}  refused {self.refused}  "
                f"collected by gc {self.collected}")

    def faults(self) -> dict[str, int]:
        """The non-zero fault counts (empty when nothing was lost, duplicated, orphaned or
        corrupted)."""
        counts = {"lost": self.lost, "duplicated": self.duplicated,
                  "orphaned": self.orphaned, "corrupted": self.corrupted}
        return {name: n for name, n in counts.items() if n}


def url_of(inst: Instance) -> str:
    """The instance's database URL, password included, for writer processes."""
    return inst.engine.url.render_as_string(hide_password=False)


def stored_files(inst: Instance) -> set[Path]:
    """Every file under the default storage's copy folder."""
    return {p for p in Path(inst.storage_root, STORE).rglob("*") if p.is_file()}


def audit(inst: Instance, figures: Figures, expected: Iterable[str] = ()) -> Figures:
    """Fill ``figures``' fault counts from the tables and storage (see the module doc);
    ``expected`` are hashes of content that writers reported saved."""
    root = Path(inst.storage_root)
    a, s = tables.artifact, tables.storage
    with inst.read() as session:
        rows = session.execute(
            select(a.c.hash, a.c.size, a.c._storage_key, a.c.n_files)
            .join(s, s.c.id == a.c.storage_id).where(s.c.root == inst.storage_root)
        ).all()
    referenced: set[Path] = set()
    for row in rows:
        path = root / row._storage_key
        files = sorted(path.rglob("*")) if row.n_files is not None else [path]
        referenced.update(files)
        if not path.exists():
            figures.lost += 1
        elif row.n_files is None and hash_file(path) != (row.hash, row.size):
            figures.corrupted += 1
    figures.lost += len(set(expected) - {row.hash for row in rows})
    figures.duplicated += len(rows) - len({row.hash for row in rows})
    figures.orphaned += len(stored_files(inst) - referenced)
    return figures


# ---------------------------------------------------------------- writers


def content(writer: str, i: int) -> str:
    """The ``i``-th text a writer saves: even ones are the same in every writer."""
    return f"shared {i}" if i % 2 == 0 else f"{writer} {i}"


def expected_hashes(writers: Iterable[str], per: int) -> set[str]:
    """Hashes of everything the writers save (see :func:`content`)."""
    return {hash_bytes(content(w, i).encode()) for w in writers for i in range(per)}


def _files(folder: Path, per: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(per):
        path = folder / f"{i}.txt"
        path.write_text(content(folder.name, i))
        paths.append(path)
    return paths


def save_one_by_one(folder: Path, per: int) -> int:
    """Save ``per`` files one at a time; the number saved."""
    for path in _files(folder, per):
        fl.Artifact(path, key=f"{folder.name}/{path.name}").save()
    return per


def save_in_bulk(folder: Path, per: int) -> int:
    """Save ``per`` files in one bulk save; the number saved."""
    saved = fl.save([fl.Artifact(p) for p in _files(folder, per)])
    assert all(a.id is not None for a in saved)
    return len(saved)


def save_batches_forever(folder: Path, per: int) -> int:
    """Bulk-save new batches of ``per`` files until killed, printing ``batch N`` after
    each."""
    batch = 0
    while True:
        save_in_bulk(folder / f"{folder.name}-{batch}", per)
        batch += 1
        print("batch", batch, flush=True)


WRITERS: dict[str, Callable[[Path, int], int]] = {
    "one-by-one": save_one_by_one, "bulk": save_in_bulk, "batches": save_batches_forever,
}


def _main(writer: str, url: str, storage: str, folder: str, per: str, start: str) -> None:
    """A writer process: connect, wait for the common start, save in a tracked run."""
    fl.connect(url, storage=storage)
    print("ready", flush=True)
    while time.time() < float(start):
        time.sleep(0.001)
    with fl.track(transform=f"{writer}-{Path(folder).name}"):
        saved = WRITERS[writer](Path(folder), int(per))
    print("saved", saved, flush=True)


def launch(writer: str, inst: Instance, folder: Path, per: int,
           start: float = 0.0) -> subprocess.Popen[str]:
    """A writer process running :data:`WRITERS` ``[writer]``, started at ``start`` (epoch s)."""
    return subprocess.Popen(
        [sys.executable, __file__, writer, url_of(inst), inst.storage_root, str(folder),
         str(per), str(start)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())


def _finish(procs: list[subprocess.Popen[str]], timeout: float) -> int:
    """Wait for writer processes; the number of saves they reported."""
    saves = 0
    for proc in procs:
        out, err = proc.communicate(timeout=timeout)
        assert proc.returncode == 0, err
        assert "locked" not in err, err
        saves += int(out.split()[-1])
    return saves


# ---------------------------------------------------------------- scenarios


def processes_saving(inst: Instance, tmp: Path, writer: str, writers: int, per: int,
                     timeout: float = 300) -> Figures:
    """``writers`` processes saving ``per`` files each (half the same in all), all starting
    together, one by one or in one bulk save."""
    folders = [tmp / f"{writer}-{w}" for w in range(writers)]
    start = time.time() + 2 + 0.3 * writers  # after every process has imported flowlineage
    saves = _finish([launch(writer, inst, f, per, start) for f in folders], timeout)
    figures = Figures(f"{writer} saves, processes, {inst.dialect}", writers, saves)
    return audit(inst, figures, expected_hashes((f.name for f in folders), per))


def threads_saving(inst: Instance, tmp: Path, writer: str, writers: int, per: int) -> Figures:
    """``writers`` threads of this process doing what :func:`processes_saving`'s do."""
    folders = [tmp / f"{writer}-t{w}" for w in range(writers)]
    saves = _in_threads(writers, lambda w: WRITERS[writer](folders[w], per))
    figures = Figures(f"{writer} saves, threads, {inst.dialect}", writers, saves)
    return audit(inst, figures, expected_hashes((f.name for f in folders), per))


def _in_threads(writers: int, work: Callable[[int], int]) -> int:
    """Run ``work(w)`` in ``writers`` threads started together; the sum of their results.
    An exception in any thread is raised here."""
    barrier = threading.Barrier(writers)
    results: list[int] = []
    errors: list[BaseException] = []

    def run(w: int) -> None:
        barrier.wait()
        try:
            results.append(work(w))
        except BaseException as e:  # raised below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return sum(results)


def versions_of_one_key(inst: Instance, tmp: Path, writers: int, per: int) -> Figures:
    """``writers`` threads each saving ``per`` new versions of the same key."""
    def work(w: int) -> int:
        for i in range(per):
            path = tmp / f"v{w}-{i}.txt"
            path.write_text(f"version {w} {i}")
            fl.Artifact(path, key="one/key.txt").save()
        return per

    saves = _in_threads(writers, work)
    figures = audit(inst, Figures(f"versions of one key, threads, {inst.dialect}", writers,
                                  saves))
    family = fl.Artifact.filter(key="one/key.txt").all()
    figures.lost += saves - len(family)
    figures.duplicated += len({a.uid[:16] for a in family}) - 1  # one family
    figures.duplicated += abs(sum(a.is_latest for a in family) - 1)  # one latest
    return figures


def rewrite(path: Path, stop: threading.Event, sizes: tuple[int, ...]) -> None:
    """Rewrite ``path`` over and over with new bytes of changing sizes until ``stop``."""
    i = 0
    while not stop.is_set():
        with open(path, "wb") as f:
            f.write(os.urandom(sizes[i % len(sizes)]))
        i += 1
        time.sleep(0.002)


def rewritten_during_save(inst: Instance, tmp: Path, saves: int,
                          sizes: tuple[int, ...]) -> Figures:
    """Save a file ``saves`` times while a thread keeps rewriting it; each save stores a
    consistent copy or is refused with ``ContentChanged`` naming the file."""
    path = tmp / f"busy-{sizes[0]}.bin"
    path.write_bytes(os.urandom(sizes[0]))
    figures = Figures(f"file rewritten during save ({sizes[0] // 1000} kB)", 1, 0)
    stop = threading.Event()
    writer = threading.Thread(target=rewrite, args=(path, stop, sizes))
    writer.start()
    try:
        for i in range(saves):
            try:
                fl.Artifact(path, key=f"busy/{i}.bin").save()
                figures.saves += 1
            except ContentChanged as e:
                assert str(path) in str(e)
                figures.refused += 1
    finally:
        stop.set()
        writer.join()
    return audit(inst, figures)


TRUNCATING = """
import os, sys, threading, flowlineage as fl
from flowlineage.errors import ContentChanged
fl.connect(sys.argv[1], storage=sys.argv[2])
path, saves, grow = sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
stop = threading.Event()
def shrink():
    n = 0
    while not stop.is_set():
        with open(path, "r+b") as f:
            f.truncate(2**20 * (1 + n % 3))
        with open(path, "ab") as f:
            f.write(os.urandom(grow))
        n += 1
t = threading.Thread(target=shrink); t.start()
for i in range(saves):
    try:
        fl.Artifact(path, key=f"shrink/{i}").save(); print("saved", flush=True)
    except ContentChanged:
        print("refused", flush=True)
stop.set(); t.join()
"""


def truncated_while_hashed(inst: Instance, tmp: Path, saves: int,
                           grow: int = 8 * 2**20) -> Figures:
    """A process saving a large file ``saves`` times while a thread truncates and regrows
    it: never a SIGBUS, each save consistent or refused."""
    path = tmp / "shrinking.bin"
    path.write_bytes(os.urandom(grow))
    done = subprocess.run([sys.executable, "-c", TRUNCATING, url_of(inst), inst.storage_root,
                           str(path), str(saves), str(grow)], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=300)
    assert done.returncode == 0, f"exit {done.returncode}: {done.stderr}"  # -7 is SIGBUS
    outcomes = done.stdout.split()
    assert len(outcomes) == saves, done.stdout
    figures = Figures("truncated while hashed", 1, outcomes.count("saved"),
                      refused=outcomes.count("refused"))
    return audit(inst, figures)


def killed_during_bulk_saves(inst: Instance, tmp: Path, kills: int, per: int) -> Figures:
    """``kills`` times: a process bulk-saving batches of ``per`` files is SIGKILLed after
    its first batch. No row may point at missing or wrong bytes; copies the killed process
    made but did not record (storage comes first) are removed by ``gc``, which must leave
    no orphan and take nothing recorded."""
    figures = Figures(f"SIGKILL during bulk saves, {inst.dialect}", kills, 0)
    for k in range(kills):
        proc = launch("batches", inst, tmp / f"killed-{k}", per)
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        assert proc.stdout.readline().split()[0] == "batch", proc.stderr
        time.sleep(0.05 * k)  # kill at different points of the next batch
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=60)
    figures.saves = fl.Artifact.filter(suffix=".txt").count()
    figures.collected = len(collect_garbage(timedelta(0)))
    return audit(inst, figures)


if __name__ == "__main__":
    _main(*sys.argv[1:])

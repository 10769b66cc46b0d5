"""Core figures: import time, track()+finish(), artifact registration, hashing, lineage, RSS.

Run: python bench/core.py [--quick] [--json]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import Figure, median_time, parser, report  # noqa: E402


def import_time() -> float:
    """Median wall time of `import flowlineage` in a fresh interpreter (in-process timer)."""
    code = ("import time; t = time.perf_counter(); import flowlineage; "
            "print(time.perf_counter() - t)")
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout) for _ in range(7)]
    return statistics.median(runs)


def track_finish(fl: object) -> float:
    import flowlineage as fl

    fl.track(transform="bench-warmup")
    fl.finish()
    times = []
    for i in range(50):
        start = time.perf_counter()
        fl.track(transform="bench-track", params={"i": i})
        fl.finish()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def make_files(folder: Path, n: int, tag: str) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        p = folder / f"{i}.bin"
        p.write_bytes(f"{tag}-{i}-".encode() + os.urandom(1024 - 16))
        paths.append(p)
    return paths


def register_one_by_one(tmp: Path, n: int, in_place: bool) -> float:
    """Artifacts/s saving ``n`` 1 KiB files one by one, in place or copied into storage."""
    import flowlineage as fl
    from flowlineage.adapters import register_storage

    folder = tmp / ("one-in-place" if in_place else "one-copied")
    paths = make_files(folder, n, folder.name)
    if in_place:
        register_storage(str(folder))
    start = time.perf_counter()
    for p in paths:
        fl.Artifact(p, key=None if in_place else f"{folder.name}/{p.name}").save()
    return n / (time.perf_counter() - start)


def register_bulk(tmp: Path, n: int, in_place: bool) -> float:
    """Artifacts/s saving ``n`` 1 KiB files with one ``fl.save``."""
    import flowlineage as fl
    from flowlineage.adapters import register_storage

    folder = tmp / ("bulk-in-place" if in_place else "bulk-copied")
    paths = make_files(folder, n, folder.name)
    if in_place:
        register_storage(str(folder))
    start = time.perf_counter()
    fl.save([fl.Artifact(p, key=None if in_place else f"{folder.name}/{p.name}")
             for p in paths])
    return n / (time.perf_counter() - start)


def hashing(tmp: Path, size_mib: int) -> tuple[float, float]:
    from flowlineage.storage.hashing import hash_file

    path = tmp / "big.bin"
    block = os.urandom(2**20)
    with open(path, "wb") as f:
        for _ in range(size_mib):
            f.write(block)

    def raw_read() -> None:
        with open(path, "rb", buffering=0) as f:
            buf = bytearray(8 * 2**20)
            while f.readinto(buf):
                pass

    raw_read()  # warm the page cache
    size = size_mib * 2**20 / 1e6
    raw = size / min(median_time(raw_read, 1) for _ in range(3))
    hashed = size / min(median_time(lambda: hash_file(path), 1) for _ in range(3))
    path.unlink()
    return raw, hashed


def build_chain(tmp: Path, hops: int) -> object:
    """A chain run0 → a0 → run1 → a1 ... built with the bulk API; returns the last artifact."""
    import flowlineage as fl
    from flowlineage.adapters import get_or_create_transform, link_run_inputs, upsert_runs

    tf = get_or_create_transform(key=f"chain-{hops}", type="function")
    ids = upsert_runs([{"reference_type": "bench_chain", "reference": f"{hops}:{i}",
                        "transform_id": tf.id, "status": "completed"} for i in range(hops)])
    runs = {r.reference: r for r in fl.Run.filter(reference_type="bench_chain",
                                                  reference__startswith=f"{hops}:").all()}
    paths = make_files(tmp / f"chain{hops}", hops, f"chain{hops}")
    arts = fl.save([fl.Artifact(p, run=runs[f"{hops}:{i}"]) for i, p in enumerate(paths)])
    link_run_inputs([(ids[("bench_chain", f"{hops}:{i}")], arts[i - 1].id)
                     for i in range(1, hops)])
    return arts[-1]


def upstream(tmp: Path, hops: int) -> tuple[float, int, int]:
    from sqlalchemy import event

    last = build_chain(tmp, hops)
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    from flowlineage.db.engine import get_instance
    engine = get_instance().engine
    last.upstream()  # type: ignore[attr-defined]
    event.listen(engine, "before_cursor_execute", count)
    result = last.upstream()  # type: ignore[attr-defined]
    event.remove(engine, "before_cursor_execute", count)
    seconds = median_time(last.upstream, 5)  # type: ignore[attr-defined]
    return seconds, len([s for s in statements if not s.startswith("BEGIN")]), len(result)


def peak_rss(tmp: Path, n: int) -> float:
    """Peak RSS (MB) of a process that tracks a run saving ``n`` artifacts.

    Read from the child's own /proc/self/status (VmHWM): the rusage of a forked child also
    counts the parent's memory from before exec.
    """
    code = f"""
import os, pathlib, flowlineage as fl
fl.connect()
d = pathlib.Path({str(tmp / 'rss')!r}); d.mkdir(parents=True, exist_ok=True)
with fl.track(transform="rss"):
    for i in range({n}):
        p = d / f"{{i}}.bin"
        p.write_bytes(os.urandom(1024))
        fl.Artifact(p, key=f"rss/{{i}}.bin").save()
status = pathlib.Path("/proc/self/status").read_text()
print(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
"""
    out = subprocess.run([sys.executable, "-c", code], env=os.environ.copy(), check=True,
                         capture_output=True, text=True).stdout
    return int(out.strip().splitlines()[-1]) / 1024


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    n = 300 if args.quick else 1000
    with tempfile.TemporaryDirectory(prefix="flbench-") as d:
        tmp = Path(d)
        os.environ["FLOWLINEAGE_HOME"] = str(tmp / "home")
        for var in ("FLOWLINEAGE_DB", "FLOWLINEAGE_STORAGE"):
            os.environ.pop(var, None)
        figures = [Figure("import flowlineage", import_time() * 1000, 200, "ms",
                          note="lamindb ~900 ms")]
        import flowlineage as fl

        start = time.perf_counter()
        fl.connect()
        connect_ms = (time.perf_counter() - start) * 1000
        figures.append(Figure("track()+finish(), median of 50", track_finish(fl) * 1000, 30,
                              "ms", note=f"lamindb 300-500 ms; first connect {connect_ms:.0f} ms"))
        for in_place in (True, False):
            how = "in place" if in_place else "copied to storage"
            figures.append(Figure(f"register {n} x 1 KiB one by one, {how}",
                                  register_one_by_one(tmp, n, in_place), 1000, "art/s",
                                  lower_is_better=False, note="lamindb ~100/s"))
            figures.append(Figure(f"register {n * 10} x 1 KiB in bulk, {how}",
                                  register_bulk(tmp, n * 10, in_place), 10000, "art/s",
                                  lower_is_better=False, note="lamindb ~135/s"))
        size = 256 if args.quick else 1024
        raw, hashed = hashing(tmp, size)
        figures.append(Figure(f"hash {size} MiB / raw read", 100 * hashed / raw, 80, "%",
                              lower_is_better=False,
                              note=f"hash {hashed:.0f} MB/s, read {raw:.0f} MB/s"))
        for hops, target in ((100, 5), (10_000 if not args.quick else 2_000, 200)):
            seconds, statements, nodes = upstream(tmp, hops)
            figures.append(Figure(f"upstream over {hops} hops", seconds * 1000, target, "ms",
                                  note=f"{statements} SQL statement(s), {nodes} nodes"
                                  + ("; lamindb 96 ms, 202 queries" if hops == 100 else "")))
        figures.append(Figure(f"peak RSS, run saving {n} artifacts", peak_rss(tmp, n), 120, "MB"))
        fl.disconnect()
    report("flowlineage core", figures, args.json)


if __name__ == "__main__":
    main()

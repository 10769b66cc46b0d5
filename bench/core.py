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
from collections.abc import Callable
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
    """Artifacts/s saving ``n`` 1 KiB files one by one in a tracked run, in place or copied
    into storage."""
    import flowlineage as fl
    from flowlineage.adapters import register_storage

    folder = tmp / ("one-in-place" if in_place else "one-copied")
    paths = make_files(folder, n, folder.name)
    if in_place:
        register_storage(str(folder))
    with fl.track(transform=f"bench-{folder.name}"):
        start = time.perf_counter()
        for p in paths:
            fl.Artifact(p, key=None if in_place else f"{tmp.name}/{folder.name}/{p.name}").save()
        return n / (time.perf_counter() - start)


def register_bulk(tmp: Path, n: int, in_place: bool) -> float:
    """Artifacts/s saving ``n`` 1 KiB files with one ``fl.save`` in a tracked run."""
    import flowlineage as fl
    from flowlineage.adapters import register_storage

    folder = tmp / ("bulk-in-place" if in_place else "bulk-copied")
    paths = make_files(folder, n, folder.name)
    if in_place:
        register_storage(str(folder))
    with fl.track(transform=f"bench-{folder.name}"):
        start = time.perf_counter()
        fl.save([fl.Artifact(p, key=None if in_place else f"{tmp.name}/{folder.name}/{p.name}")
                 for p in paths])
        return n / (time.perf_counter() - start)


def raw_floor(tmp: Path, n: int, bulk: bool) -> float:
    """Files/s of a plain sqlite3 + BLAKE3 + copy loop registering ``n`` 1 KiB files on the
    same tables (artifact row and two location rows each): the floor of this machine."""
    import socket
    import sqlite3
    import uuid

    from blake3 import blake3
    from flowlineage.db import tables
    from sqlalchemy import create_engine

    folder = tmp / ("raw-bulk" if bulk else "raw-one")
    paths = make_files(folder, n, folder.name)
    store = folder / "store"
    store.mkdir()
    db = folder / "raw.db"
    engine = create_engine(f"sqlite:///{db}")
    tables.metadata.create_all(engine)
    engine.dispose()
    con = sqlite3.connect(db, isolation_level=None)
    con.execute("PRAGMA journal_mode = WAL")
    con.execute("PRAGMA synchronous = NORMAL")
    con.execute("INSERT INTO storage (uid, root, type, created_at) VALUES ('s', ?, 'local', '')",
                (str(store),))
    host = socket.gethostname()
    art_sql = ("INSERT INTO artifact (uid, key, suffix, size, hash, _hash_type, storage_id, "
               "_storage_key, _key_is_virtual, is_latest, _branch_code, created_at, updated_at)"
               " VALUES (?, ?, '.bin', ?, ?, 'blake3', 1, ?, 1, 1, 0, ?, ?)")
    loc_sql = ("INSERT INTO artifact_location (artifact_id, host, path, size, mtime, "
               "recorded_at) VALUES (?, ?, ?, ?, ?, ?)")

    def stage(p: Path) -> tuple[str, str, bytes]:
        data = p.read_bytes()
        uid = uuid.uuid4().hex[:20]
        (store / f"{uid}.bin").write_bytes(data)
        return uid, blake3(data).hexdigest(), data

    def insert(cur: sqlite3.Cursor, p: Path, uid: str, digest: str, data: bytes) -> None:
        now = time.time()
        if cur.execute("SELECT id FROM artifact WHERE hash = ?", (digest,)).fetchone():
            return
        stamp = str(now)
        cur.execute(art_sql, (uid, f"raw/{p.name}", len(data), digest, f"{uid}.bin", stamp,
                              stamp))
        aid = cur.lastrowid
        cur.executemany(loc_sql, [(aid, host, str(p), len(data), now, stamp),
                                  (aid, host, f"{store}/{uid}.bin", len(data), now, stamp)])

    start = time.perf_counter()
    cur = con.cursor()
    if bulk:
        staged = [(p, *stage(p)) for p in paths]
        cur.execute("BEGIN IMMEDIATE")
        for p, uid, digest, data in staged:
            insert(cur, p, uid, digest, data)
        cur.execute("COMMIT")
    else:
        for p in paths:
            uid, digest, data = stage(p)
            cur.execute("BEGIN IMMEDIATE")
            insert(cur, p, uid, digest, data)
            cur.execute("COMMIT")
    rate = n / (time.perf_counter() - start)
    con.close()
    return rate


def large_file(tmp: Path, size_mib: int) -> tuple[float, float]:
    """Seconds to save a ``size_mib`` MiB file copied into storage (hashed during the
    copy), and of a plain ``cp`` of it (the floor); best of five each, interleaved, warm
    page cache."""
    import flowlineage as fl

    path = tmp / "big.bin"
    block = os.urandom(2**20)
    with open(path, "wb") as f:
        for i in range(size_mib):
            f.write(block[:-8] + i.to_bytes(8, "big"))
    copies = tmp / "cp"
    copies.mkdir()

    def cp() -> float:
        start = time.perf_counter()
        subprocess.run(["cp", str(path), str(copies / "big.bin")], check=True)
        took = time.perf_counter() - start
        (copies / "big.bin").unlink()
        return took

    def save() -> float:
        start = time.perf_counter()
        art = fl.Artifact(path, key="big.bin").save()
        took = time.perf_counter() - start
        art.delete(permanent=True)
        return took

    cp()  # warm the page cache
    floors, saves = [], []
    for _ in range(5):  # interleaved, clean-up outside the timing (deleting is slow here)
        floors.append(cp())
        saves.append(save())
    floor, saved = min(floors), min(saves)
    path.unlink()
    return saved, floor


def build_chain(hops: int, tag: str) -> tuple[object, object]:
    """A chain run0 → a0 → run1 → a1 ... built with the bulk API; returns the last artifact
    and the first run."""
    import flowlineage as fl
    from flowlineage.adapters import (
        get_or_create_transform,
        link_run_inputs,
        register_artifacts,
        upsert_runs,
    )

    tf = get_or_create_transform(key=f"chain-{tag}", type="function")
    ids = upsert_runs([{"reference_type": "bench_chain", "reference": f"{tag}:{i}",
                        "transform_id": tf.id, "status": "completed"} for i in range(hops)])
    run_ids = [ids[("bench_chain", f"{tag}:{i}")] for i in range(hops)]
    arts = register_artifacts([
        {"hash": f"{tag}-{i}", "_hash_type": "synthetic", "storage_id":
         fl.get_instance().storage_id, "_storage_key": f"chain/{tag}/{i}.bin",
         "key": f"chain/{tag}/{i}.bin", "size": 1024, "run_id": run_ids[i]}
        for i in range(hops)])
    link_run_inputs([(run_ids[i], arts[f"{tag}-{i - 1}"]) for i in range(1, hops)])
    return fl.Artifact.get(arts[f"{tag}-{hops - 1}"]), fl.Run.get(run_ids[0])


def statements_of(fn: Callable[[], object]) -> int:
    """SQL statements ``fn`` sends (transaction control left out)."""
    from flowlineage.db.engine import get_instance
    from sqlalchemy import event

    seen: list[str] = []

    def count(*args: object) -> None:
        if not str(args[2]).startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            seen.append(str(args[2]))

    engine = get_instance().engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        fn()
    finally:
        event.remove(engine, "before_cursor_execute", count)
    return len(seen)


def bare_walk(start: object, direction: str) -> Callable[[], object]:
    """The floor of a walk: its recursive statement alone, sent and fetched with the bare
    driver (no SQLAlchemy, no records)."""
    from flowlineage.db.engine import get_instance
    from flowlineage.lineage.walk import walk_sql
    from sqlalchemy import text

    engine = get_instance().engine
    kind = "artifact" if type(start).__name__ == "Artifact" else "run"
    compiled = text(walk_sql(engine.dialect.name, direction, limited=False)).bindparams(
        kind=kind, id=start.id).compile(dialect=engine.dialect)  # type: ignore[attr-defined]
    params = compiled.params
    args = [params[k] for k in compiled.positiontup or ()] if compiled.positional else params
    connection = engine.raw_connection()

    def run() -> object:
        cursor = connection.cursor()
        cursor.execute(str(compiled), args)
        return cursor.fetchall()

    return run


def deep_walks(hops_list: list[int], dialect: str, repeat: int) -> list[Figure]:
    """Upstream and downstream over each chain length beside their floor (``bare_walk``),
    and statements of ``view_lineage``."""
    figures = []
    for hops in hops_list:
        last, first = build_chain(hops, f"{dialect}{hops}")
        target = 100 if hops <= 2000 else 500
        up = median_time(last.upstream, repeat)  # type: ignore[attr-defined]
        down = median_time(first.downstream, repeat)  # type: ignore[attr-defined]
        up_floor = median_time(bare_walk(last, "upstream"), repeat)
        down_floor = median_time(bare_walk(first, "downstream"), repeat)
        view = statements_of(lambda: last.view_lineage(format="json"))  # type: ignore[attr-defined]  # noqa: B023
        nodes = len(last.upstream())  # type: ignore[attr-defined]
        figures += [
            Figure(f"upstream over {hops:,} hops ({dialect})", up * 1000, target, "ms",
                   note=f"{nodes} nodes; floor {up_floor * 1000:.1f} ms: its SQL alone, "
                   "bare driver"),
            Figure(f"downstream over {hops:,} hops ({dialect})", down * 1000, target, "ms",
                   note=f"floor {down_floor * 1000:.1f} ms"),
            Figure(f"view_lineage statements, {hops:,} hops ({dialect})", view, 6, "statements"),
        ]
    return figures


def postgres_walks(hops_list: list[int], repeat: int) -> list[Figure]:
    """``deep_walks`` on a throw-away PostgreSQL server (tests/servers.py); none without one."""
    import flowlineage as fl

    sys.path.insert(0, str(Path(__file__).parents[1] / "tests"))
    from servers import PostgresServer, PostgresServerError, find_pg_bindir

    if find_pg_bindir() is None:
        return []
    server = PostgresServer()
    try:
        server.start()
        fl.disconnect()
        fl.connect(server.create_database("bench"))
        return deep_walks(hops_list, "PostgreSQL", repeat)
    except PostgresServerError as e:
        print(f"no PostgreSQL figures: {e}", file=sys.stderr)
        return []
    finally:
        fl.disconnect()
        server.close()


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


def registration(tmp: Path, n: int, rounds: int) -> list[Figure]:
    """One-by-one and bulk registration, in place and copied, each round beside the raw
    floor: the file system's cost of creating files swings between runs here, so the
    figures are medians of ``rounds`` rounds that interleave ours and the floor's."""
    runs: dict[str, list[float]] = {}
    for r in range(rounds):
        sub = tmp / f"round-{r}"
        for bulk in (False, True):
            count = n * 10 if bulk else n
            register = register_bulk if bulk else register_one_by_one
            runs.setdefault(f"floor {bulk}", []).append(raw_floor(sub, count, bulk))
            for in_place in (True, False):
                runs.setdefault(f"{bulk} {in_place}", []).append(register(sub, count, in_place))

    def spread(key: str) -> str:
        return f"{min(runs[key]):.0f}-{max(runs[key]):.0f}/s"

    figures = []
    for bulk in (False, True):
        floor = f"floor {bulk}"
        for in_place in (True, False):
            key = f"{bulk} {in_place}"
            how = "in place" if in_place else "copied to storage"
            what = f"{n * 10} x 1 KiB in bulk" if bulk else f"{n} x 1 KiB one by one"
            figures.append(Figure(
                f"register {what}, {how}", statistics.median(runs[key]), 8000 if bulk else 2000,
                "art/s", lower_is_better=False,
                note=f"median of {rounds}, {spread(key)}; raw floor "
                f"{statistics.median(runs[floor]):.0f}/s, {spread(floor)}; lamindb "
                f"~{135 if bulk else 100}/s"))
    return figures


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
        figures += registration(tmp, n, 3)
        size = 256 if args.quick else 1024
        saved, floor = large_file(tmp, size)
        figures.append(Figure(f"save a {size} MiB file / cp of it", saved / floor, 1.3, "x",
                              note=f"save {saved:.2f} s, cp {floor:.2f} s"))
        last, _ = build_chain(100, "hundred")
        figures.append(Figure("upstream over 100 hops", median_time(
            last.upstream, 21) * 1000, 5, "ms",  # type: ignore[attr-defined]
            note=f"{statements_of(last.upstream)} statements; "  # type: ignore[attr-defined]
            "lamindb 96 ms, 202 queries"))
        hops_list = [2000, 10_000]  # one 10,000-hop chain even with --quick
        figures += deep_walks(hops_list, "SQLite", 5)
        figures.append(Figure(f"peak RSS, run saving {n} artifacts", peak_rss(tmp, n), 120, "MB"))
        figures += postgres_walks(hops_list, 5)
        fl.disconnect()
    report("flowlineage core", figures, args.json)


if __name__ == "__main__":
    main()

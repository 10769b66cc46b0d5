"""Nextflow adapter figures: a 100,000-row trace ingested on SQLite, and 10,000 weblog events
replayed over HTTP into ``flowlineage nextflow serve`` by concurrent senders.

The trace repeats the rows of fixture traces with fresh task ids and hashes; a task stores one
run row and one metrics row, and re-ingesting skips the tasks whose source digest is unchanged.
The receiver runs as its own process (the CLI); senders are plain asyncio HTTP/1.1 keep-alive
connections, so the figure measures the receiver, not a client library. "lost" counts
acknowledged task events whose run is not in the database afterwards.

Run: python bench/nextflow_ingest.py [--quick] [--json] [--rows N] [--events N] [--senders N]
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import Figure, parser, report  # noqa: E402
from flowlineage.db.engine import SQLITE_CACHE_KIB  # noqa: E402

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "nextflow"
SOURCES = ["chipseq__execution_trace_275rows.txt", "openproblems__execution_trace_864rows.txt",
           "paintorpipe__trace_720rows_slurm.txt", "wfcommons__methylseq_execution_trace.3.txt"]
TOKEN = "bench-token"


def fresh_hash(i: int) -> str:
    """A distinct trace-style hash (``ab/123456``) for every i below 2**32."""
    digits = f"{i * 2654435761 % 2**32:08x}"
    return f"{digits[:2]}/{digits[2:]}"


def build_trace(path: Path, rows: int) -> None:
    """Write a trace of ``rows`` rows repeating the fixture rows (all share one header)."""
    header = None
    body: list[list[str]] = []
    for name in SOURCES:
        lines = (FIXTURES / "trace" / name).read_text().splitlines()
        header = header or lines[0]
        assert lines[0] == header, name
        body.extend(line.split("\t") for line in lines[1:])
    assert header is not None
    with open(path, "w") as out:
        out.write(header + "\n")
        for i in range(rows):
            fields = list(body[i % len(body)])
            fields[0], fields[1] = str(i + 1), fresh_hash(i + 1)
            out.write("\t".join(fields) + "\n")


def sqlite_floor(source_db: Path, tmp: Path) -> tuple[float, float]:
    """Seconds (wall, CPU) plain ``sqlite3`` takes to insert the same run and feature rows
    into an empty store with the same table definitions (one transaction, executemany): the
    floor."""
    import flowlineage as fl

    os.environ["FLOWLINEAGE_HOME"] = str(tmp / "floor-home")
    fl.connect()
    target = fl.get_instance().settings.home / "lineage.db"
    fl.disconnect()
    src = sqlite3.connect(source_db)
    tables = {name: src.execute(f"SELECT * FROM {name}").fetchall()  # noqa: S608
              for name in ("transform", "run", "run_feature_value")}
    src.close()
    con = sqlite3.connect(target, isolation_level=None)
    for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON",
                   f"cache_size = {SQLITE_CACHE_KIB}"):  # the store's own settings
        con.execute(f"PRAGMA {pragma}")
    con.execute("DELETE FROM transform")
    start, cpu = time.perf_counter(), time.process_time()
    con.execute("BEGIN IMMEDIATE")
    for name, rows in tables.items():
        marks = ", ".join("?" * len(rows[0]))
        con.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)  # noqa: S608
    con.execute("COMMIT")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    con.close()
    return seconds, cpu


def trace_figures(tmp: Path, rows: int) -> list[Figure]:
    import flowlineage as fl
    from flowlineage_nextflow.ingest_trace import ingest_trace

    path = tmp / "trace_big.txt"
    build_trace(path, rows)
    os.environ["FLOWLINEAGE_HOME"] = str(tmp / "trace-home")
    fl.connect()
    start, cpu = time.perf_counter(), time.process_time()
    result = ingest_trace(path, run_id="bench")
    first, first_cpu = time.perf_counter() - start, time.process_time() - cpu
    assert result.task_runs == rows, result.task_runs
    start, cpu = time.perf_counter(), time.process_time()
    ingest_trace(path, run_id="bench")
    again, again_cpu = time.perf_counter() - start, time.process_time() - cpu
    assert fl.Run.filter(reference_type="nextflow_task").count() == rows
    db = fl.get_instance().settings.home / "lineage.db"
    fl.disconnect()
    floor, floor_cpu = sqlite_floor(db, tmp)
    target = 8.0 * rows / 100_000
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return [  # on a shared machine wall time waits for a core; CPU time does not
        Figure(f"ingest {rows:,}-row trace (SQLite)", first, target, "s",
               note=f"{first_cpu:.1f} s CPU; floor {floor:.1f} s ({floor_cpu:.1f} s CPU): "
                    f"plain sqlite3 inserting the same rows; load average {load}"),
        Figure("trace rows per second", rows / first, 10_000, "rows/s", lower_is_better=False),
        Figure("re-ingest the same trace (no change)", again, target, "s",
               note=f"{again_cpu:.1f} s CPU"),
    ]


def weblog_bodies(events: int) -> tuple[bytes, list[bytes], bytes, int]:
    """``started``, task events (submitted/started/completed per task), ``completed``."""
    from flowlineage_nextflow.trace import TraceRow, parse_trace

    rows: list[TraceRow] = []
    for name in SOURCES:
        rows.extend(parse_trace(FIXTURES / "trace" / name).rows)
    envelope = {"runName": "bench_run", "runId": "bench-session", "utcTime":
                "2024-05-01T10:00:00Z"}
    tasks = (events - 2) // 3
    bodies = []
    for i in range(tasks):
        row = rows[i % len(rows)]
        trace: dict[str, Any] = {"task_id": i + 1, "hash": fresh_hash(i + 1), "name": row.name,
                                 "native_id": row.native_id, "attempt": 1,
                                 "submit": 1714557600000 + i}
        bodies.append({**envelope, "event": "process_submitted",
                       "trace": {**trace, "status": "SUBMITTED"}})
        bodies.append({**envelope, "event": "process_started",
                       "trace": {**trace, "status": "RUNNING", "start": 1714557601000 + i}})
        done = {key: value for key, value in row.metrics.items() if key != "submit"}
        bodies.append({**envelope, "event": "process_completed", "trace": {
            **trace, **done, "status": row.status.value, "exit": row.exit,
            "complete": 1714557700000 + i}})
    started = {**envelope, "event": "started",
               "metadata": {"workflow": {"manifest": {"name": "bench"}}}}
    completed = {**envelope, "event": "completed",
                 "metadata": {"workflow": {"success": True}}}
    encode = json.dumps
    return (encode(started).encode(), [encode(b).encode() for b in bodies],
            encode(completed).encode(), tasks)


async def _sender(port: int, queue: list[bytes], codes: list[int]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (f"POST /{TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nContent-Length: ").encode()
    try:
        while queue:
            body = queue.pop()
            writer.write(head + str(len(body)).encode() + b"\r\n\r\n" + body)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            await reader.readexactly(length)
            codes.append(int(status.split()[1]))
    finally:
        writer.close()
        await writer.wait_closed()


def replay(port: int, bodies: list[bytes], senders: int) -> tuple[float, list[int]]:
    queue = list(reversed(bodies))
    codes: list[int] = []

    async def main() -> None:
        await asyncio.gather(*(_sender(port, queue, codes) for _ in range(senders)))

    start = time.perf_counter()
    asyncio.run(main())
    return time.perf_counter() - start, codes


FLOOR_SERVER = """
import sys, uvicorn
from flowlineage_nextflow.weblog_events import parse_weblog_event

async def app(scope, receive, send):
    body, more = b"", True
    while more:
        message = await receive()
        body, more = body + message.get("body", b""), message.get("more_body", False)
    if scope["method"] == "POST":
        parse_weblog_event(body)
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"application/json"), (b"content-length", b"21")]})
    await send({"type": "http.response.body", "body": b'{"status":"recorded"}'})

uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), http="h11", lifespan="off",
            log_level="warning", access_log=False)
"""
"""The floor: uvicorn (h11, as the receiver) parsing each event and answering 200 at once,
writing nothing."""


@contextmanager
def serving(command: list[str], port: int, env: dict[str, str]) -> Iterator[None]:
    """Run a server process until the block ends; ready once ``GET /`` answers."""
    server = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"{command[0]} did not start") from None
                time.sleep(0.1)
        yield
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def weblog_figures(tmp: Path, events: int, senders: int) -> list[Figure]:
    home = tmp / "weblog-home"
    env = dict(os.environ, FLOWLINEAGE_HOME=str(home))
    env.pop("FLOWLINEAGE_DB", None)
    cli = Path(sys.executable).with_name("flowlineage")
    started, bodies, completed, tasks = weblog_bodies(events)
    port = free_port()
    with serving([str(cli), "nextflow", "serve", "--port", str(port), "--token", TOKEN], port,
                 env):
        assert replay(port, [started], 1)[1] == [200]
        seconds, codes = replay(port, bodies, senders)
        assert replay(port, [completed], 1)[1] == [200]
    port = free_port()
    with serving([sys.executable, "-c", FLOOR_SERVER, str(port)], port, env):
        floor = replay(port, bodies, senders)[0]
    import flowlineage as fl

    os.environ["FLOWLINEAGE_HOME"] = str(home)
    fl.connect()
    recorded = fl.Run.filter(reference_type="nextflow_task",
                             status__in=["completed", "errored", "aborted"]).count()
    fl.disconnect()
    accepted = sum(code == 200 for code in codes)
    lost = tasks - recorded if accepted == len(codes) else tasks
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return [
        Figure(f"weblog events/s ({len(bodies):,} events, {senders} senders)",
               len(bodies) / seconds, 1_000, "events/s", lower_is_better=False,
               note=f"floor {len(bodies) / floor:,.0f} events/s: uvicorn parsing each event "
                    f"and answering at once, no database; load average {load}"),
        Figure("weblog events lost or refused", lost + len(codes) - accepted, 1, "events",
               note=f"{accepted:,}/{len(codes):,} answered 200"),
    ]


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, help="trace rows (default 100,000; --quick 10,000)")
    p.add_argument("--events", type=int, help="weblog events (default 10,000; --quick 2,000)")
    p.add_argument("--senders", type=int, default=64, help="concurrent HTTP senders")
    args = p.parse_args()
    rows = args.rows or (10_000 if args.quick else 100_000)
    events = args.events or (2_000 if args.quick else 10_000)
    with tempfile.TemporaryDirectory(prefix="fl-bench-nf-") as tmp:
        figures = trace_figures(Path(tmp), rows)
        figures += weblog_figures(Path(tmp), events, args.senders)
    report("flowlineage Nextflow adapter", figures, args.json)


if __name__ == "__main__":
    main()

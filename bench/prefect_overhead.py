"""Overhead of tracking Prefect runs: a flow of N trivial tasks, with and without tracking.

Both flows run against the same ephemeral Prefect API (``prefect_test_harness``) and a
fresh SQLite flowlineage instance, in alternating order, after one warm-up run each.
Before each timed run Prefect's log and event workers are drained and the server gets a
moment to store them, so one run's backlog does not slow the next; a run during which the
Prefect client had to retry a request (the test server's SQLite was busy) is run again
(up to 3 times). The figures are medians (the ratio of the fastest runs is shown too).

Targets: tracked/untracked wall-clock ratio < 1.15, and < 3 ms of tracking per task run
(the wall-clock difference divided by the number of task runs). Also shown: the time
the adapter's own code takes per run (CPU time of its entry points: the wall-clock time
inside them also counts Prefect's background threads holding the GIL), and the same
figures for a 20-way ``.submit()`` fan-out on the thread-pool task runner.

    python bench/prefect_overhead.py [--tasks 200] [--repeats 5] [--quick] [--json]

``--quick`` runs 50 tasks, 3 times; ``--json`` adds the figures in the form ``python -m
bench`` reads.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from common import Figure  # noqa: E402

TARGET_RATIO = 1.15
TARGET_MS_PER_TASK = 3.0
SETTLE_SECONDS = 2.0
MAX_ATTEMPTS = 4


def _prepare_environment(home: str) -> None:
    """Prefect and flowlineage settings; must run before prefect is imported."""
    os.environ["PREFECT_HOME"] = os.path.join(home, "prefect")
    os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] = "false"
    os.environ["PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL"] = "WARNING"  # logs still go to the API
    os.environ.pop("PREFECT_API_URL", None)
    os.environ["FLOWLINEAGE_HOME"] = os.path.join(home, "flowlineage")
    for name in ("FLOWLINEAGE_DB", "FLOWLINEAGE_STORAGE", "FLOWLINEAGE_PARENT_RUN"):
        os.environ.pop(name, None)


@contextmanager
def _timed_adapter(spent: list[float]) -> Iterator[None]:
    """Append the CPU time of each call of the adapter's entry points to ``spent``."""
    from flowlineage_prefect import _adapter

    originals: dict[tuple[Any, str], Callable[..., Any]] = {}

    def timed(owner: Any, name: str) -> None:
        original = getattr(owner, name)
        originals[(owner, name)] = original

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            start = time.thread_time()
            try:
                return original(*args, **kwargs)
            finally:
                spent.append(time.thread_time() - start)

        setattr(owner, name, wrapper)

    for owner, name in ((_adapter._Tracker, "begin"), (_adapter._Tracker, "finish"),
                        (_adapter._Started, "link_inputs"),
                        (_adapter._Started, "save_outputs")):
        timed(owner, name)
    try:
        yield
    finally:
        for (owner, name), original in originals.items():
            setattr(owner, name, original)


def run_bench(n_tasks: int, repeats: int) -> dict[str, Any]:
    """Run the benchmark and return its figures."""
    import flowlineage as fl
    import prefect
    from flowlineage_prefect import tracked
    from prefect.task_runners import ThreadPoolTaskRunner
    from prefect.testing.utilities import prefect_test_harness

    def trivial(i: int) -> int:
        return i + 1

    plain_task = prefect.task(trivial)
    tracked_task = tracked(plain_task)

    def sequential(task: Any) -> Callable[[int], int]:
        def body(n: int) -> int:
            return sum(task(i) for i in range(n))

        return body

    def fan_out(task: Any) -> Callable[[int], int]:
        def body(n: int) -> int:
            return sum(f.result() for f in [task.submit(i) for i in range(n)])

        return body

    runner: Any = ThreadPoolTaskRunner(max_workers=20)  # prefect types it too narrowly
    flows = {
        ("sequential", False): prefect.flow(name="bench-plain")(sequential(plain_task)),
        ("sequential", True): tracked(prefect.flow(name="bench-tracked")(
            sequential(tracked_task))),
        ("fan-out", False): prefect.flow(name="fan-plain", task_runner=runner)(
            fan_out(plain_task)),
        ("fan-out", True): tracked(prefect.flow(name="fan-tracked", task_runner=runner)(
            fan_out(tracked_task))),
    }
    sizes = {"sequential": n_tasks, "fan-out": 20}
    times: dict[tuple[str, bool], list[float]] = {key: [] for key in flows}
    adapter: dict[str, list[float]] = {"sequential": [], "fan-out": []}
    retries = _RetryCounter()
    fl.connect()
    try:
        with prefect_test_harness(server_startup_timeout=120), retries:
            for key, flow in flows.items():  # warm-up: first runs create flows, transforms
                flow(sizes[key[0]])
            for i in range(repeats):
                order = list(flows.items()) if i % 2 == 0 else list(reversed(flows.items()))
                for (shape, is_tracked), flow in order:
                    spent: list[float] = []
                    with _timed_adapter(spent) if is_tracked else _nothing():
                        elapsed = _timed_run(flow, sizes[shape], retries)
                    times[(shape, is_tracked)].append(elapsed)
                    if is_tracked:  # adapter time per run: the task runs and the flow run
                        adapter[shape].append(sum(spent) / (sizes[shape] + 1))
        task_runs = fl.Run.filter(reference_type="prefect_task_run").count()
    finally:
        fl.disconnect()

    result: dict[str, Any] = {"tasks": n_tasks, "repeats": repeats, "task_runs": task_runs,
                              "retried_runs": retries.retried_runs}
    for shape in sizes:
        plain = statistics.median(times[(shape, False)])
        with_tracking = statistics.median(times[(shape, True)])
        result[shape] = {
            "untracked_s": plain,
            "tracked_s": with_tracking,
            "ratio": with_tracking / plain,
            "ms_per_task": (with_tracking - plain) / sizes[shape] * 1000,
            "adapter_cpu_ms_per_run": statistics.median(adapter[shape]) * 1000,
            "best_ratio": min(times[(shape, True)]) / min(times[(shape, False)]),
        }
    seq = result["sequential"]
    result["checks"] = [
        {"figure": f"wall-clock ratio, {n_tasks} sequential tasks", "target": f"< {TARGET_RATIO}",
         "measured": round(seq["ratio"], 3), "pass": seq["ratio"] < TARGET_RATIO},
        {"figure": "tracking cost per task run (wall-clock difference)",
         "target": f"< {TARGET_MS_PER_TASK} ms", "measured": round(seq["ms_per_task"], 2),
         "pass": seq["ms_per_task"] < TARGET_MS_PER_TASK},
        {"figure": "CPU time in adapter code per run", "target": f"< {TARGET_MS_PER_TASK} ms",
         "measured": round(seq["adapter_cpu_ms_per_run"], 2),
         "pass": seq["adapter_cpu_ms_per_run"] < TARGET_MS_PER_TASK},
    ]
    return result


@contextmanager
def _nothing() -> Iterator[None]:
    yield


class _RetryCounter(logging.Handler):
    """Counts the Prefect client's retries (the test server answers 503 when its SQLite
    database is busy, and the client then sleeps for seconds): timed runs with retries
    measure the server's load, not tracking, and are run again (``retried_runs``)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0
        self.retried_runs = 0
        self._logger = logging.getLogger("prefect.client")
        self._level = self._logger.level

    def emit(self, record: logging.LogRecord) -> None:
        if "retryable" in record.getMessage():
            self.count += 1

    def __enter__(self) -> _RetryCounter:
        self._logger.addHandler(self)
        self._logger.setLevel(logging.DEBUG)
        return self

    def __exit__(self, *exc: object) -> None:
        self._logger.removeHandler(self)
        self._logger.setLevel(self._level)


def _timed_run(flow: Any, n: int, retries: _RetryCounter) -> float:
    """Seconds one run of ``flow`` takes on a settled server, without client retries."""
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    elapsed = 0.0
    for _ in range(MAX_ATTEMPTS):
        APILogWorker.drain_all()  # send the previous run's logs and events, then let the
        EventsWorker.drain_all()  # server finish storing them
        time.sleep(SETTLE_SECONDS)
        retries.count = 0
        start = time.perf_counter()
        flow(n)
        elapsed = time.perf_counter() - start
        if retries.count == 0:
            break
        retries.retried_runs += 1
    return elapsed


def _figures(result: dict[str, Any]) -> list[Figure]:
    seq = result["sequential"]
    note = f"{result['tasks']} trivial tasks, median of {result['repeats']}"
    return [
        Figure("Prefect: tracked/untracked wall time", seq["ratio"], TARGET_RATIO, "x",
               note=f"{note}; fastest runs {seq['best_ratio']:.3f}"),
        Figure("Prefect: tracking cost per task run", seq["ms_per_task"], TARGET_MS_PER_TASK,
               "ms", note=f"{seq['adapter_cpu_ms_per_run']:.2f} ms CPU in adapter code"),
    ]


def _print_table(result: dict[str, Any]) -> None:
    rows = [("figure", "target", "measured", "result")]
    rows += [(c["figure"], c["target"], str(c["measured"]), "pass" if c["pass"] else "FAIL")
             for c in result["checks"]]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)))
        if i == 0:
            print("  ".join("-" * w for w in widths))
    print()
    for shape in ("sequential", "fan-out"):
        r = result[shape]
        print(f"{shape:>10}: untracked {r['untracked_s']:.3f} s, tracked {r['tracked_s']:.3f} s, "
              f"ratio {r['ratio']:.3f}, {r['ms_per_task']:.2f} ms/task wall, "
              f"{r['adapter_cpu_ms_per_run']:.2f} ms CPU/run in adapter code; "
              f"ratio of the fastest runs {r['best_ratio']:.3f}")


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the benchmark, print a table (or JSON)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200, help="task runs per flow")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each flow")
    parser.add_argument("--quick", action="store_true", help="50 task runs, 3 timed runs")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if args.quick:
        args.tasks, args.repeats = min(args.tasks, 50), min(args.repeats, 3)
    home = tempfile.mkdtemp(prefix="fl-bench-prefect-")
    _prepare_environment(home)
    try:
        result = run_bench(args.tasks, args.repeats)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if args.json:
        print(json.dumps(result | {"figures": [asdict(f) | {"passed": f.passed}
                                               for f in _figures(result)]}, indent=2))
    else:
        _print_table(result)
    return 0  # a missed target is a FAIL row, not a failed workload (``python -m bench``)


if __name__ == "__main__":
    sys.exit(main())

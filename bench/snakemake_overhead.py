"""Snakemake logger overhead: the same 1,000 trivial jobs with and without ``--logger flowlineage``.

Each run is a fresh ``snakemake -j 2`` process (default scheduler) on a clean working
directory and, with the logger, a fresh FLOWLINEAGE_HOME. Runs come in pairs (untracked,
tracked) alternating in ABBA order so load drifts on a shared machine hit both sides; the
overhead is the median of the pairs' overheads, with their spread (min..max). CPU time is
that of every process involved (Snakemake, its jobs, the solver, the lineage writer).

Run: python bench/snakemake_overhead.py [--quick] [--json] [--jobs N] [--repeat R]
"""

from __future__ import annotations

import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import Figure, parser, report  # noqa: E402

SNAKEMAKE = Path(sys.executable).with_name("snakemake")
SNAKEFILE = """\
N = int(config["njobs"]) // 2

rule all:
    input: expand("up/{i}.txt", i=range(N))

rule gen:
    output: "gen/{i}.txt"
    shell: "echo {wildcards.i} > {output}"

rule up:
    input: "gen/{i}.txt"
    output: "up/{i}.txt"
    shell: "tr 0-9 a-j < {input} > {output}"
"""


def run_once(root: Path, n: int, logger: bool, scheduler: str | None = None
             ) -> tuple[float, float, int]:
    """Wall seconds, child CPU seconds and job runs recorded for one clean run."""
    work = root / "wf"
    home = root / "home"
    shutil.rmtree(work, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)
    work.mkdir(parents=True)
    (work / "Snakefile").write_text(SNAKEFILE)
    cmd = [str(SNAKEMAKE), "-j", "2", "--config", f"njobs={n}"]
    if scheduler is not None:
        cmd += ["--scheduler", scheduler]
    if logger:
        cmd.insert(1, "--logger=flowlineage")
    env = {**os.environ, "FLOWLINEAGE_HOME": str(home)}
    env.pop("FLOWLINEAGE_DB", None)
    env.pop("FLOWLINEAGE_STORAGE", None)
    cpu0 = _children_cpu()
    start = time.perf_counter()
    subprocess.run(cmd, cwd=work, env=env, check=True, capture_output=True)
    wall = time.perf_counter() - start
    cpu = _children_cpu() - cpu0
    return wall, cpu, _job_runs(home) if logger else 0


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _job_runs(home: Path) -> int:
    with sqlite3.connect(home / "lineage.db") as db:
        (count,) = db.execute(
            "SELECT count(*) FROM run WHERE reference_type = 'snakemake_job' "
            "AND _status_code = 0").fetchone()
    return int(count)


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("--jobs", type=int, default=None, help="number of jobs (default 1000)")
    p.add_argument("--repeat", type=int, default=None, help="paired runs (default 5)")
    p.add_argument("--scheduler", default=None,
                   help="Snakemake scheduler (default: Snakemake's, ilp); greedy runs no "
                        "solver, so its CPU figure varies less from run to run")
    args = p.parse_args()
    n = args.jobs or (200 if args.quick else 1000)
    repeat = args.repeat or 5
    jobs = n + 1  # plus the "all" job
    base: list[tuple[float, float]] = []
    logged: list[tuple[float, float]] = []
    recorded = 0
    with tempfile.TemporaryDirectory(prefix="fl-bench-smk-") as tmp:
        root = Path(tmp)
        run_once(root, 20, logger=True)  # warm caches (imports, bytecode) once
        for i in range(repeat):  # ABBA order: drift in the machine's load hits both sides
            for logger in (False, True) if i % 2 == 0 else (True, False):
                wall, cpu, count = run_once(root, n, logger, args.scheduler)
                (logged if logger else base).append((wall, cpu))
                recorded = count if logger else recorded
    pairs = sorted(100 * (t - b) / b for (b, _), (t, _) in zip(base, logged, strict=True))
    wall0 = statistics.median(w for w, _ in base)
    wall1 = statistics.median(w for w, _ in logged)
    cpu0 = statistics.median(c for _, c in base)
    cpu1 = statistics.median(c for _, c in logged)
    load = os.getloadavg()[0]
    note = (f"{jobs} jobs, -j 2, {args.scheduler or 'default'} scheduler, {repeat} paired "
            f"runs, load average {load:.1f}")
    figures = [
        Figure("wall time without logger", wall0, float("inf"), "s", note=note),
        Figure("wall time with logger", wall1, float("inf"), "s"),
        Figure("overhead of wall time", statistics.median(pairs), 3, "%",
               note=f"median of {repeat} pairs; spread {pairs[0]:+.1f} .. {pairs[-1]:+.1f} %"),
        Figure("per-job cost (wall)", 1000 * (wall1 - wall0) / jobs, 5, "ms",
               note="outputs are a few bytes: hashing is negligible"),
        Figure("per-job cost (CPU)", 1000 * (cpu1 - cpu0) / jobs, 5, "ms",
               note="CPU of every process: Snakemake, jobs, solver, writer"),
        Figure("job runs recorded", recorded, jobs, "runs", lower_is_better=False),
    ]
    report("Snakemake logger overhead", figures, args.json)


if __name__ == "__main__":
    main()

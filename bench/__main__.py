"""Run every benchmark and print one table: ``python -m bench [--quick] [--json]``.

Each workload runs in its own interpreter (``bench/<name>.py --json``) so their imports and
databases don't disturb each other; a failing workload is reported, not hidden.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import Figure, machine, parser, report  # noqa: E402

WORKLOADS = ["core", "startup", "collection", "prefect_overhead", "snakemake_overhead",
             "nextflow_ingest", "scale", "locations", "ui_render", "gc"]


def run(name: str, quick: bool) -> tuple[list[Figure], str | None, float]:
    """Figures of one workload, an error message if it failed, and its wall time."""
    script = Path(__file__).parent / f"{name}.py"
    if not script.exists():
        return [], f"{script.name} missing", 0.0
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, str(script), "--json", *(["--quick"] if quick else [])],
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        return [], (proc.stderr.strip().splitlines() or ["failed"])[-1], seconds
    data = json.loads(proc.stdout[proc.stdout.index("{"):])
    figures = [Figure(**{k: v for k, v in f.items() if k != "passed"}) for f in data["figures"]]
    return figures, None, seconds


def main() -> None:
    p = parser(__doc__ or "")
    p.add_argument("workloads", nargs="*", default=WORKLOADS, help="which workloads to run")
    args = p.parse_args()
    figures: list[Figure] = []
    errors: dict[str, str] = {}
    for name in args.workloads:
        found, error, seconds = run(name, args.quick)
        for f in found:
            f.name = f"{name}: {f.name}"
        figures.extend(found)
        if error:
            errors[name] = error
        print(f"{name}: {len(found)} figures in {seconds:.0f} s" + (f" ({error})" if error
              else ""), file=sys.stderr)
    report(f"flowlineage benchmarks{' (quick)' if args.quick else ''}", figures, args.json)
    if errors:
        print(f"\nfailed workloads on {machine()}: {errors}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()

"""Scale: a database with 1,000,000 artifacts and 200,000 runs made with the bulk API.

Measures Artifact.get(key=...), Run.filter(reference=...) and a 10-hop upstream query, and
prints the database size. Run: python bench/scale.py [--quick] [--json]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import Figure, parser, report  # noqa: E402


def build(n_runs: int, per_run: int) -> tuple[float, int]:
    """Runs in chains of 10 (each reads its predecessor's first output); returns seconds."""
    import flowlineage as fl
    from flowlineage.adapters import (
        get_or_create_transform,
        link_run_inputs,
        register_artifacts,
        upsert_runs,
    )

    inst = fl.get_instance()
    tf = get_or_create_transform(key="scale", type="function")
    start = time.perf_counter()
    step = 20_000
    for first in range(0, n_runs, step):
        refs = range(first, min(first + step, n_runs))
        ids = upsert_runs([{"reference_type": "scale", "reference": f"r{i}",
                            "transform_id": tf.id, "status": "completed"} for i in refs])
        run_ids = [ids[("scale", f"r{i}")] for i in refs]
        arts = register_artifacts([
            {"hash": f"{i:016x}{j:016x}", "_hash_type": "synthetic", "storage_id":
             inst.storage_id, "_storage_key": f"scale/{i}/{j}.bin", "key": f"scale/{i}/{j}.bin",
             "size": 1024, "run_id": run_ids[k]}
            for k, i in enumerate(refs) for j in range(per_run)])
        link_run_inputs([(run_ids[k], arts[f"{i - 1:016x}{0:016x}"])
                         for k, i in enumerate(refs) if i % 10 and i - 1 >= first])
    return time.perf_counter() - start, n_runs * per_run


def timed(fn: object, repeat: int = 21) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    n_runs = 20_000 if args.quick else 200_000
    with tempfile.TemporaryDirectory(prefix="flscale-") as d:
        os.environ["FLOWLINEAGE_HOME"] = d
        for var in ("FLOWLINEAGE_DB", "FLOWLINEAGE_STORAGE"):
            os.environ.pop(var, None)
        import flowlineage as fl

        fl.connect()
        seconds, n_artifacts = build(n_runs, 5)
        probe = n_runs // 2 + 9  # the last run of a 10-run chain
        key = f"scale/{probe}/3.bin"
        art = fl.Artifact.get(key=f"scale/{probe}/0.bin")
        up = art.upstream()
        assert len(up.run_list) == 10, len(up.run_list)
        figures = [
            Figure("Artifact.get(key=...)", timed(lambda: fl.Artifact.get(key=key)), 20, "ms"),
            Figure("Run.filter(reference=...).one()",
                   timed(lambda: fl.Run.filter(reference=f"r{probe}").one()), 20, "ms"),
            Figure("upstream over 10 hops", timed(art.upstream), 20, "ms",
                   note=f"{len(up)} nodes"),
        ]
        size_mb = Path(d, "lineage.db").stat().st_size / 1e6
        fl.disconnect()
    report(f"scale: {n_artifacts:,} artifacts, {n_runs:,} runs (built in {seconds:.0f} s, "
           f"database {size_mb:.0f} MB)", figures, args.json)


if __name__ == "__main__":
    main()

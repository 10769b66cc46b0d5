"""Locations: Artifact.get(path=) among many locations, ``flowlineage status`` on a folder of
recorded files, and what recording locations adds to bulk registration.

Full size: 1,000,000 artifacts with 2,000,000 locations and 10,000 files per registration.
``--quick`` uses 20,000 artifacts / 40,000 locations (a lookup is an index search: its time
grows with the log of the table size) and 2,000 files per registration; status always runs
on 10,000 files. Registrations alternate with and without recording; the best of two each.
Run: python bench/locations.py [--quick] [--json]
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import Figure, median_time, parser, report  # noqa: E402


def build_locations(n_artifacts: int, root: str) -> None:
    """``n_artifacts`` artifacts, each with two locations (a work file and a copy)."""
    import flowlineage as fl
    from flowlineage.adapters import record_locations, register_artifacts

    storage_id = fl.get_instance().storage_id
    step = 20_000
    for first in range(0, n_artifacts, step):
        numbers = range(first, min(first + step, n_artifacts))
        ids = register_artifacts([{"hash": f"{i:032x}", "_hash_type": "synthetic",
                                   "storage_id": storage_id, "_storage_key": f"k/{i}.csv"}
                                  for i in numbers])
        record_locations(
            {"artifact_id": ids[f"{i:032x}"], "path": f"{root}/{place}/{i}.csv", "size": 1,
             "mtime": 0.0} for i in numbers for place in ("work", "copy"))


def files(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        path = folder / f"f{i:05d}.txt"
        path.write_text(f"file {folder.name} {i}\n")
        out.append(path)
    return out


def register_seconds(paths: list[Path], record: bool) -> float:
    """Seconds to register files in place with ``fl.save`` (locations recorded or not)."""
    import flowlineage as fl
    from flowlineage.artifact import save as save_module

    original = save_module.record_locations
    if not record:
        save_module.record_locations = lambda rows, conn=None: 0
    try:
        start = time.perf_counter()
        fl.save([fl.Artifact(p) for p in paths], max_workers=1)
        return time.perf_counter() - start
    finally:
        save_module.record_locations = original


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    n_artifacts, n_files = (20_000, 2_000) if args.quick else (1_000_000, 10_000)
    scale = "quick scale" if args.quick else "full scale"
    with tempfile.TemporaryDirectory(prefix="fl-bench-loc-") as tmp:
        os.environ["FLOWLINEAGE_HOME"] = str(Path(tmp) / "home")
        import flowlineage as fl
        from flowlineage.cli.app import main as cli

        fl.connect()
        root = os.path.realpath(tmp)
        build_locations(n_artifacts, root)
        probe = f"{root}/copy/{n_artifacts // 2}.csv"
        fl.Artifact.get(path=probe)
        lookup = median_time(lambda: fl.Artifact.get(path=probe), 200)

        data = Path(root) / "data"
        fl.Storage  # noqa: B018 - maps every entity before registering a root
        fl.get_instance().register_root(str(data))
        timings: dict[bool, list[float]] = {True: [], False: []}
        for i, record in enumerate((True, False, True, False)):
            timings[record].append(register_seconds(files(data / f"r{i}", n_files), record))
        recorded, without = min(timings[True]), min(timings[False])
        register_seconds(files(data / "status", 10_000), record=True)

        def status() -> None:
            with contextlib.redirect_stdout(io.StringIO()):
                assert cli(["status", str(data / "status")]) == 0

        status_seconds = median_time(status, 3)
        fl.disconnect()
    report("locations", [
        Figure("Artifact.get(path=)", lookup * 1000, 2, "ms",
               note=f"{n_artifacts:,} artifacts, {2 * n_artifacts:,} locations ({scale})"),
        Figure("flowlineage status", status_seconds, 2, "s",
               note="10,000 unchanged files, stat only, CLI start included"),
        Figure("recording overhead on bulk registration",
               100 * (recorded - without) / without, 10, "%",
               note=f"{n_files:,} files in place: {recorded:.2f} s vs {without:.2f} s"),
    ], args.json)


if __name__ == "__main__":
    main()

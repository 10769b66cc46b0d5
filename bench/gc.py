"""``flowlineage gc``: finding the unreferenced copies among a storage root's managed files.

A root holds N stored copies, all referenced, plus N/10 orphans (a killed save's copies),
all older than the grace period; the figure is ``find_garbage()`` (``gc --dry-run``) per
stored file. The floor is what cannot be avoided: walking and stat'ing the same folder and
reading the root's storage keys once. Full size: 100,000 copies; ``--quick``: 10,000.
Run: python bench/gc.py [--quick] [--json]
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import Figure, parser, report  # noqa: E402


def build(n: int) -> tuple[int, int]:
    """``n`` referenced copies and ``n // 10`` orphans, two days old; their counts."""
    import flowlineage as fl
    from flowlineage.adapters import register_artifacts

    inst = fl.get_instance()
    folder = Path(inst.storage_root) / ".flowlineage"
    folder.mkdir(parents=True, exist_ok=True)
    old = time.time() - 2 * 86400
    keys = [f".flowlineage/{i:020d}.txt" for i in range(n + n // 10)]
    for key in keys:
        path = Path(inst.storage_root) / key
        path.write_bytes(b"x")
        os.utime(path, (old, old))
    register_artifacts([{"hash": f"{i:032x}", "_hash_type": "synthetic",
                         "storage_id": inst.storage_id, "_storage_key": key}
                        for i, key in enumerate(keys[:n])])
    return n, n // 10


def floor_seconds() -> float:
    """Walk and stat the managed folder, and read the root's keys once."""
    import flowlineage as fl
    from flowlineage.db import tables
    from sqlalchemy import select

    inst = fl.get_instance()
    start = time.perf_counter()
    for folder, _dirs, names in os.walk(Path(inst.storage_root) / ".flowlineage"):
        for name in names:
            os.lstat(os.path.join(folder, name))
    with inst.connection() as conn:
        set(conn.scalars(select(tables.artifact.c._storage_key)))
    return time.perf_counter() - start


def gc_seconds(orphans: int) -> float:
    from flowlineage.artifact.gc import find_garbage

    start = time.perf_counter()
    found = find_garbage()
    seconds = time.perf_counter() - start
    assert len(found) == orphans, (len(found), orphans)
    return seconds


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    n = 10_000 if args.quick else 100_000
    with tempfile.TemporaryDirectory() as home:
        os.environ["FLOWLINEAGE_HOME"] = home
        import flowlineage as fl

        fl.connect()
        stored, orphans = build(n)
        total = stored + orphans
        gc_ = min(gc_seconds(orphans) for _ in range(2))
        floor = min(floor_seconds() for _ in range(2))
        fl.disconnect()
    report("gc", [
        Figure(f"gc --dry-run over {total:,} stored files, per file", gc_ / total * 1e6, 20,
               "us", note=f"{gc_ * 1000:.0f} ms; floor: walk + stat + read the keys "
               f"{floor / total * 1e6:.1f} us per file, {floor * 1000:.0f} ms"),
    ], args.json)


if __name__ == "__main__":
    main()

"""Collection figures: save a collection of 100 saved artifacts, append a version.

Each repetition saves a different set (a sliding window over saved artifacts), so every
save inserts a collection instead of finding an existing one; the deduplicating save of
a set saved before is timed separately. SQLite in a temporary FLOWLINEAGE_HOME.

Run: python bench/collection.py [--quick] [--json]
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import Figure, median_time, parser, report  # noqa: E402

MEMBERS = 100


def saved_artifacts(tmp: Path, n: int, tag: str) -> list[object]:
    """``n`` saved artifacts of distinct 1 KiB files (one bulk save)."""
    import flowlineage as fl

    folder = tmp / tag
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        path = folder / f"{i}.bin"
        path.write_bytes(f"{tag}-{i}-".encode().ljust(1024, b"."))
        paths.append(path)
    return list(fl.save([fl.Artifact(p, key=f"{tag}/{p.name}") for p in paths]))


def save_collections(arts: list[object], repeat: int, key: str) -> float:
    """Median seconds of ``Collection(100 artifacts).save()``, a new set each time."""
    import flowlineage as fl

    windows = iter(range(len(arts) - MEMBERS + 1))

    def save() -> None:
        start = next(windows)
        fl.Collection(arts[start : start + MEMBERS], key=key).save()  # type: ignore[arg-type]

    save()  # warm-up: first use of the Collection code paths
    return median_time(save, repeat)


def save_again(arts: list[object], repeat: int) -> float:
    """Median seconds of saving a set saved before (returns the existing collection)."""
    import flowlineage as fl

    members = arts[:MEMBERS]
    first = fl.Collection(members, key="again").save()  # type: ignore[arg-type]

    def save() -> None:
        assert fl.Collection(members, key="again").save().id == first.id  # type: ignore[arg-type]

    return median_time(save, repeat)


def append_versions(arts: list[object], extra: list[object], repeat: int) -> float:
    """Median seconds of ``collection.append(artifact).save()`` on a 100-member collection."""
    import flowlineage as fl

    latest = [fl.Collection(arts[:MEMBERS], key="appended").save()]  # type: ignore[arg-type]
    new = iter(extra)

    def append() -> None:
        latest[0] = latest[0].append(next(new)).save()  # type: ignore[arg-type]

    append()  # warm-up
    return median_time(append, repeat)


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    repeat = 7 if args.quick else 25
    with tempfile.TemporaryDirectory(prefix="flbench-coll-") as d:
        tmp = Path(d)
        os.environ["FLOWLINEAGE_HOME"] = str(tmp / "home")
        for var in ("FLOWLINEAGE_DB", "FLOWLINEAGE_STORAGE"):
            os.environ.pop(var, None)
        import flowlineage as fl

        fl.connect()
        arts = saved_artifacts(tmp, MEMBERS + 2 * repeat + 2, "members")
        extra = saved_artifacts(tmp, repeat + 1, "extra")
        figures = [
            Figure(f"save a collection of {MEMBERS} saved artifacts",
                   save_collections(arts, repeat, "plain") * 1000, 500, "ms",
                   note=f"median of {repeat}; lamindb 26 ms"),
        ]
        with fl.track(transform="bench-collections"):
            in_run = save_collections(arts[repeat + 1 :], repeat, "in-run")
        figures += [
            Figure(f"same, in a tracked run ({MEMBERS} member inputs linked)", in_run * 1000,
                   500, "ms", note=f"median of {repeat}"),
            Figure(f"save again a set of {MEMBERS} (deduplicated)",
                   save_again(arts, repeat) * 1000, 500, "ms", note=f"median of {repeat}"),
            Figure(f"append() a version to a {MEMBERS}-artifact collection",
                   append_versions(arts, extra, repeat) * 1000, 100, "ms",
                   note=f"append + save, median of {repeat}; lamindb 37 ms"),
        ]
        fl.disconnect()
    report("flowlineage collections", figures, args.json)


if __name__ == "__main__":
    main()

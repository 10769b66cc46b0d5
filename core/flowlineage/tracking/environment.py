"""The Python environment of a run: installed distributions and their versions, in
``requirements.txt`` format (``name==version`` lines, as ``pip freeze`` writes them).

Read from ``*.dist-info`` / ``*.egg-info`` folder names on ``sys.path`` (no pip subprocess,
no METADATA parsing), which costs about a millisecond.
"""

from __future__ import annotations

import os
import sys
from functools import lru_cache

from ..storage.hashing import hash_bytes


def _canonical(name: str) -> str:
    return name.replace("_", "-").replace(".", "-").lower()


@lru_cache(maxsize=1)
def requirements_txt() -> bytes:
    """The installed packages as sorted ``name==version`` lines (cached per process)."""
    packages: dict[str, str] = {}
    for entry in sys.path:
        if not entry or not os.path.isdir(entry):
            continue
        try:
            names = os.listdir(entry)
        except OSError:
            continue
        for name in names:
            if name.endswith(".dist-info"):
                stem = name[: -len(".dist-info")]
            elif name.endswith(".egg-info"):
                stem = name[: -len(".egg-info")]
            else:
                continue
            pkg, _, version = stem.partition("-")
            if version:
                packages.setdefault(_canonical(pkg), version.split("-")[0])
    return "".join(f"{name}=={version}\n" for name, version in sorted(packages.items())).encode()


def environment_hash() -> str:
    """BLAKE3 of ``requirements_txt()``."""
    return hash_bytes(requirements_txt())

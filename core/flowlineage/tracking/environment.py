"""The Python environment of a run: installed distributions and their versions.

Read from ``*.dist-info`` / ``*.egg-info`` folder names on ``sys.path`` (no pip subprocess,
no METADATA parsing), which costs about a millisecond.
"""

from __future__ import annotations

import json
import os
import platform
import sys
from functools import lru_cache

from ..storage.hashing import hash_bytes


def _canonical(name: str) -> str:
    return name.replace("_", "-").replace(".", "-").lower()


@lru_cache(maxsize=1)
def environment_json() -> bytes:
    """Canonical JSON of the interpreter and its installed packages (cached per process)."""
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
    doc = {
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "packages": dict(sorted(packages.items())),
    }
    return json.dumps(doc, sort_keys=True, indent=1).encode()


def environment_hash() -> str:
    """BLAKE3 of ``environment_json()``."""
    return hash_bytes(environment_json())

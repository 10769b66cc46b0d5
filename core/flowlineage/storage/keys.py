"""Storage keys: validation of user-given keys, keys named after local paths, and the
suffix of a file name."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import InvalidKey

MAX_KEY_LENGTH = 1024
_CONTROL = re.compile("[\x00-\x1f\x7f]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def validate_key(key: str) -> str:
    """Return ``key`` if it is a safe relative storage key, else raise ``InvalidKey``."""
    if not isinstance(key, str) or not key:
        raise InvalidKey("a storage key must be a non-empty string")
    if len(key) > MAX_KEY_LENGTH:
        raise InvalidKey(f"key is {len(key)} characters long; the limit is {MAX_KEY_LENGTH}")
    if _CONTROL.search(key):
        raise InvalidKey(f"key {key[:80]!r} contains control characters")
    if _SURROGATE.search(key):
        raise InvalidKey(f"key {key[:80]!r} contains an unpaired surrogate, which has no UTF-8 "
                         "form (a file name in another encoding?); give a key in valid text")
    if key.startswith("/") or "://" in key or (len(key) > 1 and key[1] == ":"):
        raise InvalidKey(f"key {key!r} is absolute; give a path relative to the storage root")
    parts = key.split("/")
    if any(p in ("", ".", "..") for p in parts[:-1]) or parts[-1] in ("", ".", ".."):
        raise InvalidKey(f"key {key!r} has an empty, '.' or '..' segment")
    if "\\" in key:
        raise InvalidKey(f"key {key!r} contains a backslash; use '/' between segments")
    return key


def key_for_path(path: str | os.PathLike[str], base: str | os.PathLike[str]) -> str:
    """The key naming a local file after its path: relative to ``base`` (a working
    directory) when inside it, else the absolute path without its root."""
    full = Path(os.path.abspath(path))
    try:
        rel = full.relative_to(os.path.abspath(base))
    except ValueError:
        rel = full.relative_to(full.anchor)
    return rel.as_posix() if rel.parts else full.name or "root"


COMPRESSIONS = ("gz", "bz2", "zst", "xz")


def suffix(name: str) -> str:
    """The suffix of a file name or key, compression included: ``a.tar.gz`` → ``.tar.gz``,
    ``reads.fastq.gz`` → ``.fastq.gz``, ``x.csv`` → ``.csv``, ``README`` → ``""``."""
    base = name.rsplit("/", 1)[-1]
    if "." not in base.lstrip("."):
        return ""
    parts = base.lstrip(".").split(".")
    if len(parts) >= 3 and parts[-1] in COMPRESSIONS and len(parts[-2]) <= 5:
        return "." + ".".join(parts[-2:])
    return "." + parts[-1]

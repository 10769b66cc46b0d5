"""Random base62 identifiers and lamindb-style version suffixes."""

from __future__ import annotations

import secrets

BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
VERSION_LEN = 4
FIRST_VERSION = "0000"
TRANSFORM_STEM_LEN = 12
"""Transform uids: a 12-character stem plus the version suffix."""
VERSIONED_STEM_LEN = 16
"""Artifact and collection uids: a 16-character stem plus the version suffix."""
RUN_UID_LEN = 16
STORAGE_UID_LEN = 12
PROJECT_UID_LEN = 12
ULABEL_UID_LEN = 8


_UNBIASED = 62 * 4  # bytes below this map uniformly onto base62 with ``% 62``


def base62(n: int) -> str:
    """Return ``n`` random base62 characters (from the OS's random source, unbiased)."""
    out: list[str] = []
    while len(out) < n:
        out.extend(BASE62[b % 62] for b in secrets.token_bytes(n + 8) if b < _UNBIASED)
    return "".join(out[:n])


def new_uid(stem_len: int, versioned: bool) -> str:
    """A fresh uid: a random stem, plus the first version suffix when ``versioned``."""
    stem = base62(stem_len)
    return stem + FIRST_VERSION if versioned else stem


def next_version_suffix(suffix: str) -> str:
    """Increment a base62 version suffix (``0000`` → ``0001`` … ``000z`` → ``0010``)."""
    digits = [BASE62.index(c) for c in suffix]
    i = len(digits) - 1
    while i >= 0:
        digits[i] += 1
        if digits[i] < len(BASE62):
            break
        digits[i] = 0
        i -= 1
    else:
        raise OverflowError(f"version suffix {suffix!r} cannot be incremented")
    return "".join(BASE62[d] for d in digits)


def family_upper_bound(stem: str) -> str:
    """An exclusive upper bound of every uid starting with ``stem`` (for index range scans)."""
    return stem + "{"  # "{" sorts right after "z", the largest base62 character

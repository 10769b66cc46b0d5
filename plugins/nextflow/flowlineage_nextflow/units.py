"""Parse the values Nextflow writes into trace files, weblog events and lineage records.

Nextflow renders each trace field either human-readable (the default: ``4m 19s``, ``3.1 MB``,
``24.1%``, ``2021-03-29 19:50:21.822``) or raw (``trace.raw = true`` and the weblog ``trace``
object: milliseconds, bytes, plain numbers, epoch milliseconds). Every parser here accepts both
renderings, returns ``None`` for Nextflow's "not available" marker ``-`` and raises
:class:`ValueError` with a short reason (no location: the caller adds it) for anything else.
:func:`load_json` is the strict JSON decoding shared by the weblog and lineage parsers.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import TypeAlias

from flowlineage.errors import IngestionError

NA = "-"
"""What Nextflow writes for a value that is not available."""

Json: TypeAlias = "str | int | float | bool | None | list[Json] | dict[str, Json]"
"""A value decoded from JSON (weblog bodies, lineage records)."""

_INT = re.compile(r"-?[0-9]+")
_UNSIGNED = re.compile(r"[0-9]+")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h|d)")
_DURATION_MS = {"d": 86_400_000, "h": 3_600_000, "m": 60_000, "s": 1_000, "ms": 1}
_DURATION_RANK = {"d": 0, "h": 1, "m": 2, "s": 3, "ms": 4}
_SIZE = re.compile(r"([0-9]+(?:\.[0-9]+)?) ?([KMGTPEZ]?B)")
_SIZE_UNITS = ("B", "KB", "MB", "GB", "TB", "PB", "EB", "ZB")
_SIZE_FACTOR = {unit: 1024**i for i, unit in enumerate(_SIZE_UNITS)}
_PERCENT = re.compile(r"[0-9]+(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?%?")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
INT64_MAX = 2**63 - 1
"""Largest integer a database column holds exactly (larger ones became floats)."""
MAX_DURATION_MS = 1000 * 365 * 86_400_000
"""Longest duration accepted (1000 years): any submit time plus it stays a valid date."""


def in_range(value: int, what: str, high: int = INT64_MAX) -> int:
    """``value`` if it fits a signed 64-bit integer (and ``high``), else ``ValueError``."""
    if not -INT64_MAX - 1 <= value <= high:
        raise ValueError(f"{what} out of range: {value} (at most {high})")
    return value
_LOCAL_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?")


def _raw_int(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"not a valid {what}: {value!r}")
    if value < 0:
        raise ValueError(f"{what} cannot be negative: {value}")
    return in_range(value, what, MAX_DURATION_MS if what == "duration" else INT64_MAX)


def parse_int(value: str | int) -> int | None:
    """Parse an integer field (``exit``, ``cpus``, ``syscr``...); ``-`` gives ``None``."""
    if isinstance(value, str):
        if value == NA:
            return None
        if _INT.fullmatch(value):
            return in_range(int(value), "integer")
        raise ValueError(f"not an integer: {value!r}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"not an integer: {value!r}")
    return in_range(value, "integer")


def parse_duration_ms(value: str | int) -> int | None:
    """Parse a duration (``81ms``, ``1.8s``, ``1d 13h 37m 33s``, raw ``81``) into milliseconds."""
    if not isinstance(value, str):
        return _raw_int(value, "duration")
    if value == NA:
        return None
    if _UNSIGNED.fullmatch(value):
        return in_range(int(value), "duration", MAX_DURATION_MS)
    total = 0
    last_rank = -1
    for part in value.split(" "):
        match = _DURATION_PART.fullmatch(part)
        if match is None or _DURATION_RANK[match[2]] <= last_rank:
            raise ValueError(f"not a valid duration: {value!r}")
        last_rank = _DURATION_RANK[match[2]]
        # Nextflow rounds half up (Math.round) when it parses its own durations.
        total += int(float(match[1]) * _DURATION_MS[match[2]] + 0.5)
    return in_range(total, "duration", MAX_DURATION_MS)


def parse_size_bytes(value: str | int) -> int | None:
    """Parse a memory/IO size (``482 B``, ``637.9 KB``, bare ``0``, raw bytes) into bytes.

    Units are binary, as in Nextflow's ``MemoryUnit``: 1 KB = 1024 B.
    """
    if not isinstance(value, str):
        return _raw_int(value, "size")
    if value == NA:
        return None
    if _UNSIGNED.fullmatch(value):
        return in_range(int(value), "size")
    match = _SIZE.fullmatch(value)
    if match is None:
        raise ValueError(f"not a valid size: {value!r}")
    return in_range(int(float(match[1]) * _SIZE_FACTOR[match[2]] + 0.5), "size")


def parse_percent(value: str | float) -> float | None:
    """Parse a percentage (``24.1%``, ``1577.7%``, raw ``24.1``) into a float (24.1)."""
    if isinstance(value, str):
        if value == NA:
            return None
        if _PERCENT.fullmatch(value):
            return float(value.rstrip("%"))
        raise ValueError(f"not a valid percentage: {value!r}")
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise ValueError(f"not a valid percentage: {value!r}")
    if value < 0:
        raise ValueError(f"percentage cannot be negative: {value}")
    return float(value)


def parse_timestamp(value: str | int) -> datetime | None:
    """Parse a trace time into a datetime.

    ``YYYY-MM-DD HH:MM:SS.mmm`` (local time, no zone) gives a naive datetime; raw epoch
    milliseconds (int or digit string) give an aware UTC datetime. ``-`` and epoch ``0``
    (Nextflow's "never happened") give ``None``.
    """
    if isinstance(value, str):
        if value == NA:
            return None
        if _LOCAL_TIME.fullmatch(value):
            try:
                return datetime.fromisoformat(value)
            except ValueError:
                raise ValueError(f"not a valid date: {value!r}") from None
        if not _UNSIGNED.fullmatch(value):
            raise ValueError(f"not a valid timestamp: {value!r}")
        epoch_ms = int(value)
    else:
        epoch_ms = _raw_int(value, "timestamp")
    if epoch_ms == 0:
        return None
    try:
        return _EPOCH + timedelta(milliseconds=epoch_ms)
    except OverflowError:
        raise ValueError(f"epoch milliseconds out of range: {epoch_ms}") from None


def _reject_constant(name: str) -> Json:
    raise ValueError(f"{name} is not valid JSON")


def load_json(data: str | bytes, *, source: str) -> Json:
    """Decode a strict JSON document (UTF-8; no ``NaN``/``Infinity``).

    Raises :class:`~flowlineage.errors.IngestionError` naming ``source`` and the line of the
    first error (the byte offset too for non-UTF-8 bytes).
    """
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        assert isinstance(data, bytes)
        raise IngestionError(
            f"not UTF-8: byte 0x{data[exc.start]:02x} at byte offset {exc.start}",
            source=source, line=data.count(b"\n", 0, exc.start) + 1,
        ) from None
    try:
        result: Json = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise IngestionError(
            f"invalid JSON: {exc.msg} (column {exc.colno})", source=source, line=exc.lineno
        ) from None
    except (ValueError, RecursionError) as exc:
        raise IngestionError(f"invalid JSON: {exc}", source=source) from None
    return result

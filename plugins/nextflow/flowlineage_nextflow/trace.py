"""Parse Nextflow execution trace files (``-with-trace``) into typed rows.

A trace file is TAB-separated text: one header line naming the columns (any subset and order of
Nextflow's ``trace.fields``), then one line per finished task. Values are looked up by column
name and converted by a function chosen once per column from the header. The same row type is
built from the raw-valued ``trace`` object of weblog events (:func:`row_from_json`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from operator import attrgetter, getitem, itemgetter

from flowlineage.errors import IngestionError

from .files import read_file
from .units import (
    NA,
    Json,
    in_range,
    parse_duration_ms,
    parse_int,
    parse_percent,
    parse_size_bytes,
    parse_timestamp,
)

Metric = int | float | str | None
"""A typed trace value: ms, bytes, percent, ISO time, count or text."""

MAX_FIELD_CHARS = 64 * 1024
"""Longest field accepted; anything longer is taken as a corrupt file."""

_UNSET_INT = 2**31 - 1  # Integer.MAX_VALUE: Nextflow's "no exit status yet"


class TaskStatus(StrEnum):
    """A task status as Nextflow reports it."""

    NEW = "NEW"
    SUBMITTED = "SUBMITTED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"
    CACHED = "CACHED"
    ABORTED = "ABORTED"


FINAL_STATUSES = frozenset(
    {TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CACHED, TaskStatus.ABORTED}
)
"""The statuses a trace file row can have (a row is written when its task ends)."""


@dataclass(slots=True)
class TraceRow:
    """One task record.

    ``process``/``tag`` come from their columns when present, else from ``name``
    (``PROCESS (tag)``; the parenthesised part may be the task index rather than a tag).
    ``attempt``/``first_attempt_task_id`` chain retries of one task (see
    :func:`parse_trace_text`). ``metrics`` holds every other column, typed: durations in ms,
    sizes in bytes, percentages as floats, times as ISO-8601 strings (naive for the local
    times of human-readable traces, ``+00:00`` for epoch values), unknown columns as text;
    ``None`` where Nextflow wrote ``-``. ``line`` is ``None`` for rows from weblog events.
    """

    line: int | None
    task_id: int
    hash: str | None
    native_id: str | None
    name: str
    process: str
    tag: str | None
    status: TaskStatus
    exit: int | None
    attempt: int | None
    first_attempt_task_id: int | None
    metrics: dict[str, Metric]


@dataclass(frozen=True, slots=True)
class TraceFile:
    """A parsed trace file: its columns, its distinct rows in file order, and the line numbers
    of the rows dropped because they repeat an earlier line exactly."""

    source: str
    columns: tuple[str, ...]
    rows: tuple[TraceRow, ...]
    duplicate_lines: tuple[int, ...]


def _type_name(value: Json) -> str:
    return "null" if value is None else type(value).__name__


def _str_or_int(value: Json) -> str | int:
    if isinstance(value, str | int):
        return value
    raise ValueError(f"expected a string or integer, got {_type_name(value)}")


def _to_int(value: Json) -> int | None:
    return None if value is None else parse_int(_str_or_int(value))


def _to_time(value: Json) -> int | None:
    return None if value is None else parse_duration_ms(_str_or_int(value))


def _to_size(value: Json) -> int | None:
    return None if value is None else parse_size_bytes(_str_or_int(value))


def _to_date(value: Json) -> str | None:
    moment = None if value is None else parse_timestamp(_str_or_int(value))
    if moment is None:
        return None
    if isinstance(value, str) and len(value) == 23:  # valid "yyyy-MM-dd HH:mm:ss.SSS": ISO
        return value.replace(" ", "T")  # but for the separator (and much faster to rewrite)
    return moment.isoformat(timespec="milliseconds")


def _to_percent(value: Json) -> float | None:
    if value is None:
        return None
    if isinstance(value, str | int | float):
        return parse_percent(value)
    raise ValueError(f"expected a number, got {_type_name(value)}")


def _to_text(value: Json) -> str | None:
    """Text as Nextflow's trace renders it: empty values are ``-``, lists are ``[a, b]``."""
    if value is None or value == NA or value == "" or value == []:
        return None
    if isinstance(value, bool | dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, list):
        return "[" + ", ".join(str(item) for item in value) + "]"
    return value if isinstance(value, str) else str(value)


def _to_optional_int(value: Json) -> int | None:
    """An int field, where Nextflow's "unset" Integer.MAX_VALUE also means not available."""
    number = _to_int(value)
    return None if number == _UNSET_INT else number


# Column types from Nextflow's TraceRecord.FIELDS; any other column is text.
_CONVERTERS: dict[str, Callable[[Json], Metric]] = {
    **dict.fromkeys(("submit", "start", "complete"), _to_date),
    **dict.fromkeys(("duration", "realtime", "time"), _to_time),
    **dict.fromkeys(("%cpu", "%mem"), _to_percent),
    **dict.fromkeys(
        ("rss", "vmem", "peak_rss", "peak_vmem", "rchar", "wchar", "read_bytes", "write_bytes",
         "memory", "disk"),
        _to_size,
    ),
    **dict.fromkeys(("syscr", "syscw", "cpus", "vol_ctxt", "inv_ctxt"), _to_int),
}
_REQUIRED_COLUMNS = ("task_id", "name", "status")
_CORE_COLUMNS = frozenset(
    {"task_id", "hash", "native_id", "name", "process", "tag", "status", "exit", "attempt"}
)
_FINAL_BY_TEXT = {status.value: status for status in FINAL_STATUSES}
_STATUS_BY_TEXT = {status.value: status for status in TaskStatus}


def _split_name(name: str) -> tuple[str, str | None]:
    """``CHIPSEQ:FASTQC (SPT5_R1)`` -> ``("CHIPSEQ:FASTQC", "SPT5_R1")``."""
    cut = name.find(" (")
    if cut > 0 and name[-1] == ")":
        return name[:cut], name[cut + 2 : -1]
    return name, None


def _number_attempts(rows: Iterable[TraceRow], explicit: bool) -> None:
    """Set ``attempt`` and ``first_attempt_task_id`` on rows read from one trace file.

    Rows of one name are taken in task_id order. With an ``attempt`` column (``explicit``),
    attempt 1 starts a chain. Without one, a row continues the chain only when the row before
    it FAILED: only failures are retried, and distinct tasks may share a name
    (``CHIPSEQ:JO_CHECKSUMS (null)``). Rows of one task_id (a task written twice) share an
    attempt.
    """
    by_name: dict[str, list[TraceRow]] = {}
    for row in rows:
        by_name.setdefault(row.name, []).append(row)
    for chain in by_name.values():
        if len(chain) == 1:  # the common case
            row = chain[0]
            row.attempt, row.first_attempt_task_id = row.attempt or 1, row.task_id
            continue
        chain.sort(key=attrgetter("task_id"))
        head = number = 0
        previous: int | None = None
        failed = False
        for row in chain:
            if row.task_id != previous:
                if explicit:
                    number = row.attempt or 1
                    restart = number == 1 or previous is None
                else:
                    restart = not failed
                    number = 1 if restart else number + 1
                if restart:
                    head = row.task_id
                previous, failed = row.task_id, False
            failed = failed or row.status is TaskStatus.FAILED
            row.attempt, row.first_attempt_task_id = number, head


def _header(line: str, source: str) -> tuple[str, ...]:
    if not line.strip():
        raise IngestionError("empty file: no header line", source=source, line=1)
    columns = tuple(line.split("\t"))
    seen: set[str] = set()
    for column in columns:
        if not column or column != column.strip():
            raise IngestionError(
                f"empty or space-padded column name {column!r}", source=source, line=1,
                field=column,
            )
        if column in seen:
            raise IngestionError("duplicate column", source=source, line=1, field=column)
        seen.add(column)
    for column in _REQUIRED_COLUMNS:
        if column not in seen:
            raise IngestionError("required column missing", source=source, line=1, field=column)
    return columns


def _reject_chars(line: str, lineno: int, columns: tuple[str, ...], source: str) -> None:
    """Raise if ``line`` holds a NUL character or an over-long field."""

    def field(offset: int) -> str | None:
        column = line.count("\t", 0, offset)
        return columns[column] if column < len(columns) else None

    nul = line.find("\x00")
    if nul >= 0:
        raise IngestionError("NUL byte", source=source, line=lineno, field=field(nul))
    offset = 0
    for value in line.split("\t"):
        if len(value) > MAX_FIELD_CHARS:
            raise IngestionError(
                f"field is {len(value)} characters long (limit {MAX_FIELD_CHARS})",
                source=source, line=lineno, field=field(offset),
            )
        offset += len(value) + 1


def _parse_lines(lines: Iterable[str], source: str) -> TraceFile:
    numbered = enumerate(lines, start=1)
    header_line = next(numbered, (1, ""))[1]
    _reject_chars(header_line, 1, (), source)
    columns = _header(header_line, source)
    width = len(columns)
    at = {column: i for i, column in enumerate(columns)}
    # An absent optional column reads the "-" appended to every row's values (index width).
    i_task, i_name, i_status = at["task_id"], at["name"], at["status"]
    i_hash, i_native, i_process, i_tag, i_exit, i_attempt = (
        at.get(column, width)
        for column in ("hash", "native_id", "process", "tag", "exit", "attempt")
    )
    # Numeric metrics repeat a lot: each such column caches its conversions and a row's values
    # are looked up at C speed, converting only unseen strings. Times and text (work dirs,
    # scripts...) are mostly unique, so they are converted directly.
    converter = {c: _CONVERTERS.get(c, _to_text) for c in columns if c not in _CORE_COLUMNS}
    direct = [(c, at[c], f) for c, f in converter.items() if f in (_to_date, _to_text)]
    cached = tuple(c for c, f in converter.items() if f not in (_to_date, _to_text))
    caches: list[dict[str, Metric]] = [{NA: None} for _ in cached]
    # One extra "-" makes itemgetter always return a tuple; zip(strict=False) drops it.
    cached_raws = itemgetter(*(at[c] for c in cached), width)
    ints: dict[str, int | None] = {NA: None}

    seen: set[str] = set()
    duplicates: list[int] = []
    rows: list[TraceRow] = []
    for lineno, line in numbered:
        if line in seen:
            duplicates.append(lineno)
            continue
        seen.add(line)
        if "\x00" in line or len(line) > MAX_FIELD_CHARS:
            _reject_chars(line, lineno, columns, source)
        values = line.split("\t")
        if len(values) != width:
            short = len(values) < width
            raise IngestionError(
                f"{'truncated row: ' if short else ''}expected {width} TAB-separated fields, "
                f"found {len(values)}",
                source=source, line=lineno, field=columns[len(values)] if short else None,
            )
        values.append(NA)
        field = "task_id"  # the column being read, for errors
        try:
            raw = values[i_task]
            if not (raw.isdigit() and raw.isascii()):
                raise ValueError(f"not a task id: {raw!r}")
            in_range(int(raw), "task id")
            field = "status"
            status = _FINAL_BY_TEXT.get(values[i_status])
            if status is None:
                raise ValueError(
                    f"unknown task status {values[i_status]!r} "
                    f"(expected {', '.join(sorted(_FINAL_BY_TEXT))})"
                )
            field = "name"
            name = values[i_name]
            if name in ("", NA):
                raise ValueError("task name is empty")
            field = "exit"
            exit_raw = values[i_exit]
            if exit_raw not in ints:
                ints[exit_raw] = _to_optional_int(exit_raw)
            field = "attempt"
            attempt_raw = values[i_attempt]
            if attempt_raw not in ints:
                ints[attempt_raw] = _to_optional_int(attempt_raw)
            raws = cached_raws(values)
            try:
                metrics = dict(zip(cached, map(getitem, caches, raws), strict=False))
            except KeyError:
                for field, cache, raw in zip(cached, caches, raws, strict=False):
                    if raw not in cache:
                        cache[raw] = converter[field](raw)
                metrics = dict(zip(cached, map(getitem, caches, raws), strict=False))
            for field, i, convert in direct:
                metrics[field] = convert(values[i])
        except ValueError as exc:
            raise IngestionError(str(exc), source=source, line=lineno, field=field) from None
        process, tag = _split_name(name)
        hash_, native_id = values[i_hash], values[i_native]
        if i_process < width and values[i_process] != NA:
            process = values[i_process]
        if i_tag < width:
            tag = None if values[i_tag] == NA else values[i_tag]
        rows.append(
            TraceRow(
                lineno, int(values[i_task]), None if hash_ == NA else hash_,
                None if native_id == NA else native_id, name, process, tag, status,
                ints[exit_raw], ints[attempt_raw], None, metrics,
            )
        )
    _number_attempts(rows, explicit=i_attempt < width)
    return TraceFile(source, columns, tuple(rows), tuple(duplicates))


def _decode(data: bytes, source: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        lineno = data.count(b"\n", 0, exc.start) + 1
        column = data.count(b"\t", line_start, exc.start)
        header = data.split(b"\n", 1)[0].decode("utf-8", "replace").split("\t")
        raise IngestionError(
            f"not UTF-8: byte 0x{data[exc.start]:02x} at byte offset {exc.start}",
            source=source, line=lineno,
            field=header[column] if lineno > 1 and column < len(header) else None,
        ) from None


def parse_trace_text(data: str | bytes | Iterable[str], *, source: str) -> TraceFile:
    """Parse trace content: the whole text (``str``/``bytes``) or its lines.

    ``source`` names the input in errors. Identical repeated lines are dropped (keeping the
    first; see ``TraceFile.duplicate_lines``). Each row's ``attempt`` comes from the ``attempt``
    column, or is derived: rows of one name, in task_id order, are attempts 1, 2, ... of a task
    as long as each earlier attempt FAILED. ``first_attempt_task_id`` is the task_id of the
    first attempt of a row's chain (its own task_id for a first attempt).

    Raises :class:`~flowlineage.errors.IngestionError` (with line and column) on any malformed
    input: no header, duplicate or missing required columns (``task_id``, ``name``,
    ``status``), wrong field count, a bad value or status, NUL or non-UTF-8 bytes, or a field
    over :data:`MAX_FIELD_CHARS`.
    """
    if isinstance(data, bytes):
        data = _decode(data, source)
    if isinstance(data, str):
        lines = data.removeprefix("\ufeff").split("\n")
        if lines[-1] == "":
            lines.pop()
        return _parse_lines((line.removesuffix("\r") for line in lines), source)
    return _parse_lines((line.rstrip("\r\n") for line in data), source)


def parse_trace(path: str | os.PathLike[str]) -> TraceFile:
    """Read and parse a trace file; see :func:`parse_trace_text`."""
    return parse_trace_text(read_file(path, "trace file"), source=str(path))


def row_from_json(record: Mapping[str, Json], *, source: str, prefix: str = "") -> TraceRow:
    """Build a row from a raw-valued trace object (the weblog ``trace``).

    Any :class:`TaskStatus` is accepted (weblog events report running tasks); ``line`` is
    ``None``; ``first_attempt_task_id`` is the row's own task_id for attempt 1, else ``None``.
    Errors name the field as ``prefix + key``.
    """
    key = "task_id"
    try:
        task_id = _to_int(record.get(key))
        if task_id is None or task_id < 0:
            raise ValueError("a task id is required")
        key = "status"
        status = _STATUS_BY_TEXT.get(str(record.get(key)))
        if status is None:
            raise ValueError(f"unknown task status {record.get(key)!r}")
        key = "name"
        name = record.get(key)
        if not isinstance(name, str) or not name:
            raise ValueError("a task name (string) is required")
        texts = []
        for key in ("hash", "native_id", "process", "tag"):
            texts.append(_to_text(record.get(key)))
        key = "exit"
        exit_code = _to_optional_int(record.get(key))
        key = "attempt"
        attempt = _to_int(record.get(key))
        metrics: dict[str, Metric] = {}
        for key, value in record.items():
            if key not in _CORE_COLUMNS:
                metrics[key] = _CONVERTERS.get(key, _to_text)(value)
    except ValueError as exc:
        raise IngestionError(str(exc), source=source, field=prefix + key) from None
    process, tag = _split_name(name)
    return TraceRow(
        line=None,
        task_id=task_id,
        hash=texts[0],
        native_id=texts[1],
        name=name,
        process=texts[2] or process,
        tag=texts[3] if "tag" in record else tag,
        status=status,
        exit=exit_code,
        attempt=attempt,
        first_attempt_task_id=task_id if attempt == 1 else None,
        metrics=metrics,
    )

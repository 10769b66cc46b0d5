"""Reading ``.nextflow.log`` (and its rotated copies ``.nextflow.log.1`` …).

Lines are ``Mon-DD HH:MM:SS.mmm [thread] LEVEL logger - message`` (no year; continuation
lines of stack traces and reports have no time). What a run's log tells (see
``tests/fixtures/nextflow/FORMATS.md``): the launch command (first line), the version banner,
``Launching `<script>` [<run name>]``, ``Session uuid: <id>`` (``UUID`` in newer versions),
``Run name:``, ``Work-dir:``, ``Session aborted -- Cause: <error>``,
``Workflow completed > WorkflowStats`` and the last line ``> Execution complete --
Goodbye``. The year comes from the file's modification time (the last line is no later).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flowlineage.errors import IngestionError

from .files import read_file
from .mapping import aware, script_pipeline

_LINE = re.compile(r"^(?P<month>[A-Z][a-z]{2})-(?P<day>\d\d) (?P<time>\d\d:\d\d:\d\d\.\d{3}) "
                   r"\[(?P<thread>[^\]]*)\] (?P<level>[A-Z]+) +(?P<logger>\S+) - (?P<msg>.*)$")
_LAUNCH = re.compile(r"Launching `(?P<script>[^`]+)` \[(?P<name>[^\]]+)\]"
                     r"(?:.*?revision: (?P<revision>\S+))?")
_SESSION = re.compile(r"^Session (?:uuid|UUID): (?P<id>[0-9a-fA-F-]{36})$")
_VERSION = re.compile(r"N E X T F L O W\s+~\s+version (?P<version>\S+)")
_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}


@dataclass
class NextflowLog:
    """What one ``.nextflow.log`` says about its run."""

    source: str
    session_id: str
    run_name: str | None
    script: str | None
    revision: str | None
    command: str | None
    version: str | None
    work_dir: str | None
    started_at: datetime
    finished_at: datetime | None
    status: str
    """completed / errored (the session aborted) / started (the log stops mid-run)."""
    error: str | None


def read_nextflow_log(path: str | os.PathLike[str]) -> NextflowLog:
    """Parse a ``.nextflow.log``; ``IngestionError`` naming the file and line when it is none."""
    source = str(path)
    try:
        mtime = datetime.fromtimestamp(os.path.getmtime(path)).astimezone()
    except OSError as exc:
        raise IngestionError(f"cannot read Nextflow log: {exc.strerror}", source=source) from None
    text = read_file(path, "Nextflow log").decode("utf-8", errors="replace")
    found: dict[str, str] = {}
    times: list[tuple[int, str, str, str]] = []  # (line number, month, day, time)
    completed = goodbye = False
    for number, line in enumerate(text.splitlines(), 1):
        match = _LINE.match(line)
        if match is None:
            if number == 1:
                raise IngestionError("not a Nextflow log: the first line has no "
                                     "'Mon-DD HH:MM:SS.mmm [thread] LEVEL' prefix",
                                     source=source, line=1)
            continue
        if match["month"] not in _MONTHS:
            raise IngestionError(f"unknown month {match['month']!r}", source=source,
                                 line=number, field="time")
        times.append((number, match["month"], match["day"], match["time"]))
        msg = match["msg"]
        if msg.startswith("$> "):
            found.setdefault("command", msg[3:])
        elif (m := _VERSION.search(msg)) is not None:
            found.setdefault("version", m["version"])
        elif (m := _LAUNCH.search(msg)) is not None:
            found.setdefault("script", m["script"])
            found.setdefault("name", m["name"])
            if m["revision"]:
                found.setdefault("revision", m["revision"])
        elif (m := _SESSION.match(msg)) is not None:
            found.setdefault("session", m["id"])
        elif msg.startswith("Work-dir: "):
            found.setdefault("work_dir", msg.removeprefix("Work-dir: ").rsplit(" [", 1)[0])
        elif msg.startswith("Run name: "):
            found["name"] = msg.removeprefix("Run name: ").strip()
        elif msg.startswith("Session aborted -- Cause: "):
            found.setdefault("error", msg.removeprefix("Session aborted -- Cause: ").strip())
        elif msg.startswith("Workflow completed > WorkflowStats"):
            completed = True
        elif msg.startswith("> Execution complete"):
            goodbye = True
    if "session" not in found:
        raise IngestionError("no 'Session uuid' line: the log ends before its run started",
                             source=source, field="Session uuid")
    stamps = _dates(times, mtime, source)
    aborted = "error" in found
    status = "errored" if aborted else "completed" if (completed or goodbye) else "started"
    return NextflowLog(
        source=source, session_id=found["session"], run_name=found.get("name"),
        script=found.get("script"), revision=found.get("revision"),
        command=found.get("command"), version=found.get("version"),
        work_dir=found.get("work_dir"), started_at=stamps[0],
        finished_at=stamps[-1] if status != "started" else None, status=status,
        error=found.get("error"))


def _dates(times: list[tuple[int, str, str, str]], mtime: datetime,
           source: str) -> list[datetime]:
    """Line times as local datetimes, the year chosen so the last is not after ``mtime``
    (a log spanning New Year's Eve steps back a year where the month decreases)."""
    year = mtime.year
    last = times[-1]
    if (_MONTHS[last[1]], int(last[2])) > (mtime.month, mtime.day):
        year -= 1
    out: list[datetime] = []
    previous_month = _MONTHS[times[-1][1]]
    for number, month, day, clock in reversed(times):
        if _MONTHS[month] > previous_month:
            year -= 1
        previous_month = _MONTHS[month]
        try:
            moment = datetime.strptime(f"{year}-{_MONTHS[month]:02d}-{day} {clock}",
                                       "%Y-%m-%d %H:%M:%S.%f")
        except ValueError:
            raise IngestionError(f"invalid date {month}-{day} {clock}", source=source,
                                 line=number, field="time") from None
        out.append(moment.replace(tzinfo=mtime.tzinfo))
    return out[::-1]


def log_pipeline(log: NextflowLog) -> str | None:
    """The pipeline key the log's launch line implies (repository, or project/script)."""
    if log.script is None:
        return None
    project = os.path.dirname(log.work_dir.rstrip("/")) if log.work_dir else None
    return script_pipeline(log.script, project)


def log_run_fields(log: NextflowLog) -> dict[str, Any]:
    """Workflow Run columns the log sets: name, command line, times, status, error."""
    fields: dict[str, Any] = {"status": log.status, "started_at": aware(log.started_at),
                              "finished_at": aware(log.finished_at) if log.finished_at else None,
                              "description": log.error}
    if log.run_name:
        fields["name"] = log.run_name
    if log.command:
        fields["cli_args"] = log.command
    return fields


def log_features(log: NextflowLog | None) -> dict[str, Any]:
    """Workflow Run features from the log: session id, Nextflow version, script revision."""
    if log is None:
        return {}
    values = {"session_id": log.session_id, "nextflow_version": log.version,
              "revision": log.revision}
    return {k: v for k, v in values.items() if v is not None}

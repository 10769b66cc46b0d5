"""Reading Snakemake 9 log records: event names, job fields, file lists, interruptions.

Snakemake's logger attaches its data to each ``logging.LogRecord`` as attributes (``event``
plus the event's fields, see ``snakemake_interface_logger_plugins.common.LogEvent``). These
helpers turn those attributes into plain Python values; they import nothing from Snakemake.
"""

from __future__ import annotations

import json
import logging
import os
import re
from typing import Any

WORKFLOW_STARTED = "workflow_started"
JOB_INFO = "job_info"
JOB_FINISHED = "job_finished"
JOB_ERROR = "job_error"
ERROR = "error"

INTERRUPT_MESSAGES = (
    "Terminating processes on user request",  # SIGINT / Ctrl-C reached the scheduler
    "Will exit after finishing currently running jobs",  # SIGTERM (graceful shutdown)
)
_ANNOTATED = re.compile(r"^(?P<path>.+?) \((?P<label>[^()]*)\)$")
_NOT_LOCAL = ("pipe", "service", "storage")  # annotations of files that are no local files
_JOB_IN_MESSAGE = re.compile(r"\bJob (\d+)\b")
_KILLED = re.compile(r"died with <Signals\.SIG(?:INT|TERM|HUP)\b")


def event_of(record: logging.LogRecord) -> str | None:
    """The Snakemake event name of a record (``"job_info"`` …), or None for plain messages."""
    event = getattr(record, "event", None)
    return None if event is None else str(event)


def message_of(record: logging.LogRecord) -> str:
    """The record's text (Snakemake's queue handler has already formatted it)."""
    try:
        return record.getMessage()
    except (TypeError, ValueError):
        return str(record.msg)


def is_interruption(record: logging.LogRecord, event: str | None) -> bool:
    """Whether the record says the user interrupted (Ctrl-C) or terminated (SIGTERM) the run."""
    if event == ERROR:
        return getattr(record, "exception", None) == "KeyboardInterrupt"
    if event is not None:
        return False
    text = message_of(record)
    return any(text.startswith(m) for m in INTERRUPT_MESSAGES)


def job_in_error(text: str) -> int | None:
    """The job id an error message names (``"... Job 3 completed ..."``), if any."""
    match = _JOB_IN_MESSAGE.search(text)
    return int(match.group(1)) if match else None


def killed_by_user(text: str) -> bool:
    """Whether a job error says the command died of SIGINT, SIGTERM or SIGHUP (not a bug)."""
    return _KILLED.search(text) is not None


def local_path(entry: Any, workdir: str) -> str | None:
    """The absolute path of a file Snakemake listed, or None if it is no local file.

    Snakemake annotates some entries (``"x.txt (pipe)"``, ``"s3://b/k (retrieve from
    storage)"``); pipes, services and storage-plugin files are skipped, other annotations
    are dropped.
    """
    if entry is None:
        return None
    text = str(entry)
    if not text or text == "<TBD>":
        return None
    match = _ANNOTATED.match(text)
    if match is not None and not os.path.lexists(os.path.join(workdir, text)):
        if any(word in match["label"] for word in _NOT_LOCAL):
            return None
        text = match["path"]
    if "://" in text:
        return None
    return os.path.normpath(os.path.join(workdir, text))


def local_paths(entries: Any, workdir: str) -> list[str]:
    """``local_path`` of every entry of a Snakemake file list, duplicates removed."""
    if not entries:
        return []
    if isinstance(entries, str):
        entries = [entries]
    paths = (local_path(e, workdir) for e in entries)
    return list(dict.fromkeys(p for p in paths if p is not None))


def json_safe(value: Any) -> Any:
    """``value`` as JSON-serialisable data (unknown objects become strings)."""
    return json.loads(json.dumps(value, default=str))


def job_params(record: logging.LogRecord) -> dict[str, Any]:
    """Run params of a job: its wildcards, threads and resources (values as logged)."""
    wildcards = getattr(record, "wildcards", None) or {}
    resources = getattr(record, "resources", None)
    items = resources.items() if resources is not None and hasattr(resources, "items") else []
    return {
        "wildcards": dict(wildcards),
        "threads": getattr(record, "threads", None),
        "resources": {k: v for k, v in items if not str(k).startswith("_")},
    }


def job_name(rule: str, params: dict[str, Any]) -> str:
    """A short run name: the rule plus its wildcards (``count[sample=a]``)."""
    wildcards = params.get("wildcards") or {}
    if not wildcards:
        return rule[:255]
    inner = ",".join(f"{k}={v}" for k, v in wildcards.items())
    return f"{rule}[{inner}]"[:255]

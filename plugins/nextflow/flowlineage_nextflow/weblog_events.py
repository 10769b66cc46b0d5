"""Parse the JSON bodies Nextflow POSTs with ``-with-weblog <url>``.

Every body has ``runName``, ``runId`` (the session UUID), ``event`` (``runStatus`` in 18.10)
and ``utcTime``; task events add a raw-valued ``trace`` object, ``started``/``completed`` a
``metadata`` object (``workflow`` and the parameters: ``params`` in the docs, ``parameters`` in
what Nextflow has sent since 20.01).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from flowlineage.errors import IngestionError

from .trace import TraceRow, row_from_json
from .units import Json, load_json

SOURCE = "weblog"
"""The ``source`` of every error raised here."""


class WeblogEventType(StrEnum):
    """The events Nextflow reports."""

    STARTED = "started"
    PROCESS_SUBMITTED = "process_submitted"
    PROCESS_STARTED = "process_started"
    PROCESS_COMPLETED = "process_completed"
    ERROR = "error"
    COMPLETED = "completed"


_TASK_EVENTS = frozenset(
    {
        WeblogEventType.PROCESS_SUBMITTED,
        WeblogEventType.PROCESS_STARTED,
        WeblogEventType.PROCESS_COMPLETED,
    }
)


@dataclass(frozen=True, slots=True)
class WeblogMetadata:
    """Workflow metadata (``workflow``: runName, sessionId, start, ...) and parameters."""

    workflow: dict[str, Json]
    params: dict[str, Json]


@dataclass(frozen=True, slots=True)
class WeblogEvent:
    """One weblog event; ``trace`` is set for task events (and some ``error`` events),
    ``metadata`` for ``started``/``completed`` since Nextflow 19.04."""

    run_name: str | None
    run_id: str
    event: WeblogEventType
    utc_time: datetime
    trace: TraceRow | None
    metadata: WeblogMetadata | None


def _fail(reason: str, field: str | None = None) -> IngestionError:
    return IngestionError(reason, source=SOURCE, field=field)


def _text(body: dict[str, Json], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise _fail("required field missing" if value is None else "expected a non-empty string",
                    key)
    return value


def _object(parent: dict[str, Json], key: str, path: str) -> dict[str, Json] | None:
    value = parent.get(key)
    if value is not None and not isinstance(value, dict):
        raise _fail("expected an object", path)
    return value


def _metadata(body: dict[str, Json]) -> WeblogMetadata | None:
    metadata = _object(body, "metadata", "metadata")
    if metadata is None:
        return None
    params_key = "params" if "params" in metadata else "parameters"
    return WeblogMetadata(
        workflow=_object(metadata, "workflow", "metadata.workflow") or {},
        params=_object(metadata, params_key, f"metadata.{params_key}") or {},
    )


def parse_weblog_event(body: bytes | str) -> WeblogEvent:
    """Parse one weblog POST body.

    Raises :class:`~flowlineage.errors.IngestionError` (``source="weblog"``, ``field`` the
    JSON key) for invalid JSON, a non-object body, missing ``runId``/``event``/``utcTime``,
    an unknown event, a task event without ``trace``, or wrongly typed values.
    """
    decoded = load_json(body, source=SOURCE)
    if not isinstance(decoded, dict):
        raise _fail("body is not a JSON object")
    event_key = "event" if "event" in decoded else "runStatus"
    event_name = _text(decoded, event_key)
    try:
        event = WeblogEventType(event_name)
    except ValueError:
        raise _fail(f"unknown event {event_name!r}", event_key) from None
    stamp = _text(decoded, "utcTime")
    try:
        utc_time = datetime.fromisoformat(stamp)
    except ValueError:
        raise _fail(f"not an ISO-8601 time: {stamp!r}", "utcTime") from None
    if utc_time.utcoffset() is None:
        raise _fail(f"time has no UTC offset: {stamp!r}", "utcTime")
    trace_object = _object(decoded, "trace", "trace")
    if trace_object is None and event in _TASK_EVENTS:
        raise _fail(f"{event} event has no trace object", "trace")
    run_id = _text(decoded, "runId")
    run_name = decoded.get("runName")
    if run_name is not None and not isinstance(run_name, str):
        raise _fail("expected a string", "runName")
    return WeblogEvent(
        run_name=run_name,
        run_id=run_id,
        event=event,
        utc_time=utc_time,
        trace=None if trace_object is None
        else row_from_json(trace_object, source=SOURCE, prefix="trace."),
        metadata=_metadata(decoded),
    )

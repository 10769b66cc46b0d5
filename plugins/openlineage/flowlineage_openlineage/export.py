"""Backfill: every recorded run as OpenLineage RunEvents in a JSON lines file.

Per run, in run order: START (at ``started_at``, with its inputs) unless the run is only
scheduled, then COMPLETE / FAIL / ABORT (at ``finished_at``, with inputs and outputs) once
it has finished. With ``since``, only events at or after that time are written.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import IO, TYPE_CHECKING

from flowlineage.errors import ValidationError
from openlineage.client.event_v2 import RunEvent, RunState
from openlineage.client.serde import Serde
from sqlalchemy import or_

from .config import namespace
from .events import EventBuilder, terminal_state

if TYPE_CHECKING:
    from flowlineage import Artifact, Run

CHUNK = 500


def run_events(builder: EventBuilder, run: Run, outputs: list[Artifact],
               since: datetime | None = None) -> list[RunEvent]:
    """The START and terminal events of one run (those at or after ``since``)."""
    if run.status == "scheduled":
        return []
    inputs = run.input_artifacts.order_by("id").all()
    started = run.started_at or run.created_at
    events = []
    if since is None or started >= since:
        events.append(builder.event(run, RunState.START, started, inputs, []))
    state = terminal_state(run.status)
    if state is not None:
        finished = run.finished_at or run.heartbeat_at or started
        if since is None or finished >= since:
            events.append(builder.event(run, state, finished, inputs, outputs))
    return events


@contextmanager
def _writer(out: str) -> Iterator[IO[str]]:
    if out == "-":
        yield sys.stdout
        return
    try:
        handle = open(out, "w", encoding="utf-8")
    except OSError as e:
        raise ValidationError(f"cannot write events to {out}: {e.strerror}") from e
    with handle:
        yield handle


def export_events(out: str, since: datetime | None = None,
                  progress: Callable[[int, int], None] | None = None) -> int:
    """Write the events of every run (active at or after ``since``) to ``out``; count them."""
    from flowlineage import Artifact, Run, Transform

    runs = Run.filter() if since is None else Run.filter(
        or_(Run.started_at >= since, Run.finished_at >= since))
    total = runs.count()
    if progress is not None:
        progress(0, total)
    builder = EventBuilder(namespace())
    written = done = last_id = 0
    with _writer(out) as handle:
        while True:
            chunk = runs.filter(Run.id > last_id).order_by("id").limit(CHUNK).all()
            if not chunk:
                break
            ids = [r.id for r in chunk]
            builder.remember(chunk, Transform.filter(
                id__in=sorted({r.transform_id for r in chunk})).all())
            outputs: dict[int, list[Artifact]] = {i: [] for i in ids}
            for art in Artifact.filter(run_id__in=ids).order_by("id").all():
                outputs[art.run_id].append(art)  # type: ignore[index]
            for run in chunk:
                made = outputs[run.id] + run.recreated_artifacts.order_by("id").all()
                for event in run_events(builder, run, made, since):
                    handle.write(Serde.to_json(event) + "\n")
                    written += 1
            done += len(chunk)
            last_id = chunk[-1].id
            if progress is not None:
                progress(done, total)
    return written

"""Run inputs: linking artifacts a run read, once each."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..db.engine import get_instance, insert_ignore
from ..db.schema import utcnow
from ..db.tables import run_input_artifact
from ..plugins import hook, notify


def link_inputs(run: Any, artifacts: list[Any]) -> None:
    """Link artifacts as inputs of ``run`` (idempotent) and fire ``artifact_used`` hooks."""
    seen: set[int] = run.__dict__.setdefault("_fl_inputs", set())
    todo = [a for a in artifacts if a.id is not None and a.id not in seen]
    if not todo:
        return
    inst = get_instance()
    with inst.write() as s:
        existing = set(s.scalars(select(run_input_artifact.c.artifact_id).where(
            run_input_artifact.c.run_id == run.id,
            run_input_artifact.c.artifact_id.in_([a.id for a in todo]))))
        new = [a for a in todo if a.id not in existing]
        if new:
            s.execute(insert_ignore(inst.dialect, run_input_artifact),
                      [{"run_id": run.id, "artifact_id": a.id, "created_at": utcnow()}
                       for a in new])
    seen.update(a.id for a in todo if a.id is not None)
    for a in new:
        notify(hook().flowlineage_artifact_used, artifact=a, run=run)

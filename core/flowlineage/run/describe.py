"""A readable summary of a run (``run.describe()``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..render.summary import emit

if TYPE_CHECKING:
    from .run import Run


def describe_run(run: Run, print_: bool = True) -> str | None:
    """Transform, status, times, params, related artifacts, inputs and outputs, as text."""
    tf = run.transform
    lines = [f"Run {run.name or ''} (uid {run.uid})".replace("  ", " "),
             f"  transform: {tf.key} ({tf.kind}, {tf.uid})", f"  status: {run.status}"]
    for name in ("description", "entrypoint", "started_at", "finished_at", "params",
                 "reference", "reference_type", "cli_args", "created_by"):
        value = getattr(run, name)
        if value is not None:
            lines.append(f"  {name}: {value}")
    for name in ("plan", "report", "environment"):
        art = getattr(run, name)
        if art is not None:
            lines.append(f"  {name}: {art.key or art.description or art.uid}")
    if run.initiated_by_run_id is not None:
        lines.append(f"  initiated by run: {run.initiated_by_run.uid}")  # type: ignore[union-attr]
    for title, query in (("inputs", run.input_artifacts), ("outputs", run.output_artifacts),
                         ("recreated", run.recreated_artifacts)):
        found = query.all()
        if found:
            lines.append(f"  {title} ({len(found)}):")
            lines.extend(f"    - {a.key or a.description or a.uid}" for a in found[:20])
    labels = [p.name for p in run.projects] + [u.name for u in run.ulabels]
    if labels:
        lines.append("  labels: " + ", ".join(labels))
    return emit("\n".join(lines), print_)

"""Ingest ``.nextflow.log`` files: the workflow run's identity, times, status and error.

A log joins what other ingestions recorded of the same session: the run whose reference is
the session id (trace ingested with ``--run-id``/``--log``, weblog events) and lineage-store
runs whose ``session_id`` feature matches. Without either, it records the workflow run
itself (reference: the session id). Each file is one transaction; re-ingesting changes nothing.
"""

from __future__ import annotations

import os
from typing import Any

from .mapping import (
    DEFAULT_PIPELINE,
    WORKFLOW_REFERENCE,
    IngestResult,
    pipeline_key,
    run_uid,
    transform_id,
)
from .nextflow_log import NextflowLog, log_features, log_pipeline, log_run_fields, read_nextflow_log


def ingest_log(path: str | os.PathLike[str] | NextflowLog,
               pipeline: str | None = None) -> IngestResult:
    """Record one ``.nextflow.log`` (or a rotated ``.nextflow.log.N``), or one read before;
    see the module doc."""
    from flowlineage.adapters import ensure_connected, set_run_features, upsert_runs

    log = path if isinstance(path, NextflowLog) else read_nextflow_log(path)
    inst = ensure_connected()
    with inst.write():
        rows = _session_runs(log.session_id)
        if not rows:
            key = pipeline_key(pipeline or log_pipeline(log) or DEFAULT_PIPELINE)
            rows = [{"uid": run_uid(WORKFLOW_REFERENCE, log.session_id),
                     "reference_type": WORKFLOW_REFERENCE, "reference": log.session_id,
                     "transform_id": transform_id(key, "pipeline")}]
        for row in rows:
            row.update(log_run_fields(log))
        ids = upsert_runs(rows)
        set_run_features({run_id: log_features(log) for run_id in ids.values()})
    return IngestResult(log.source, {ref: i for (_, ref), i in ids.items()},
                        status_counts={log.status: len(ids)})


def _session_runs(session_id: str) -> list[dict[str, Any]]:
    """Keys of the workflow runs already recorded for a session (by reference or feature)."""
    import flowlineage as fl
    from flowlineage.adapters import run_ids_with_feature

    runs = fl.Run.filter(reference_type=WORKFLOW_REFERENCE, reference=session_id).all()
    tagged = fl.Run.filter(fl.Run.id.in_(run_ids_with_feature("session_id")),
                           reference_type=WORKFLOW_REFERENCE).all()
    runs += [r for r in tagged
             if r.features.get_values().get("session_id") == session_id and r not in runs]
    return [{"reference_type": r.reference_type, "reference": r.reference,
             "transform_id": r.transform_id} for r in runs]

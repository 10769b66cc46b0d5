"""Ingest a Nextflow execution trace file (``-with-trace``) as one workflow Run and its task Runs.

Everything one file gives is written in one transaction: a malformed file raises
:class:`~flowlineage.errors.IngestionError` before anything is written, and ingesting the same
file again changes nothing. With ``workdir`` the task work directories add output artifacts and
input links (task-to-task lineage). See ``docs/nextflow.md`` for the full mapping.
"""

from __future__ import annotations

import os
from collections import Counter

from .artifacts import artifact, runs_by_id, saved_id
from .files import read_file
from .mapping import (
    RUN_STATUS,
    TASK_REFERENCE,
    WORKFLOW_REFERENCE,
    IngestResult,
    folder_pipeline,
    last_per_reference,
    pipeline_key,
    process_key,
    recorded_pipeline,
    run_uid,
    task_features,
    task_reference,
    task_run_row,
    transform_id,
    workflow_status,
)
from .nextflow_log import (
    NextflowLog,
    log_features,
    log_pipeline,
    log_run_fields,
    read_nextflow_log,
)
from .trace import TaskStatus, TraceFile, TraceRow, parse_trace_text
from .workdir import TaskDir, WorkTree

QUERIED_FEATURES = frozenset({"exit", "cached", "attempt", "restart_of", "peak_rss"})
"""Task features kept in rows of their own (indexed numbers); a task's other metrics share
one JSON feature row, so a 100,000-row trace writes ~300,000 feature rows, not ~1,000,000."""


def ingest_trace(
    path: str | os.PathLike[str],
    run_id: str | None = None,
    run_name: str | None = None,
    pipeline: str | None = None,
    workdir: str | os.PathLike[str] | None = None,
    log: str | os.PathLike[str] | None = None,
) -> IngestResult:
    """Record a trace file: one workflow Run, one Run per task, metrics as run features.

    ``run_id`` becomes the workflow Run's reference (pass Nextflow's session id to merge with
    weblog records); without it the id is the session id of ``log`` (the run's
    ``.nextflow.log``: also its name, command line, times, status and error), else ``trace-``
    plus the file's content hash, so the same file always maps to the same Runs. ``pipeline``
    names the transforms ``nextflow:<pipeline>`` and ``nextflow:<pipeline>:<process>``;
    without it: the log's script or repository, else the pipeline the run was recorded
    under before, else the trace's folder (with a note in the result saying how to name it).
    ``workdir``, Nextflow's work directory, is registered as a storage root: files in each
    task's directory become its output artifacts (in place) and its staged input links
    become input links to the upstream artifacts.
    """
    from flowlineage.adapters import ensure_connected, hash_bytes

    source = str(path)
    data = read_file(path, "trace file")
    trace = parse_trace_text(data, source=source)
    nf_log = read_nextflow_log(log) if log is not None else None
    run_ref = run_id or (nf_log.session_id if nf_log else f"trace-{hash_bytes(data)[:32]}")
    tree = WorkTree(workdir) if workdir is not None else None
    inst = ensure_connected()
    with inst.write():
        named = pipeline or (log_pipeline(nf_log) if nf_log else recorded_pipeline(run_ref))
        result = _write(trace, run_ref, run_name, named or folder_pipeline(path), tree, nf_log)
    if named is None:
        result.notes.append(
            f"pipeline named {folder_pipeline(path)!r} after the trace's folder: name it "
            "with --pipeline KEY (e.g. nf-core/rnaseq) or --log .nextflow.log")
    return result


def _write(trace: TraceFile, run_ref: str, run_name: str | None, pipeline: str,
           tree: WorkTree | None, nf_log: NextflowLog | None) -> IngestResult:
    from flowlineage.adapters import set_run_features, upsert_runs

    tasks = last_per_reference((task_reference(run_ref, r.hash, r.task_id), r)
                               for r in trace.rows)
    rows = list(tasks.values())
    processes = {p: transform_id(process_key(pipeline, p), "process")
                 for p in dict.fromkeys(r.process for r in rows)}
    run_rows = [task_run_row(r, run_ref, 0, processes[r.process]) for r in rows]
    starts = [r["started_at"] for r in run_rows if r["started_at"] is not None]
    ends = [r["finished_at"] for r in run_rows if r["finished_at"] is not None]
    workflow = {  # the workflow spans its tasks
        "uid": run_uid(WORKFLOW_REFERENCE, run_ref), "reference_type": WORKFLOW_REFERENCE,
        "reference": run_ref, "transform_id": transform_id(pipeline_key(pipeline), "pipeline"),
        "status": workflow_status(rows),
        "started_at": min(starts, default=None), "finished_at": max(ends, default=None),
    }
    if nf_log is not None:  # the log knows how the run itself ended, the trace only its tasks
        workflow.update(log_run_fields(nf_log))
    if run_name is not None:  # else keep a name recorded before (e.g. from weblog events)
        workflow["name"] = run_name
    wf_id = upsert_runs([workflow])[(WORKFLOW_REFERENCE, run_ref)]
    for run_row in run_rows:
        run_row["initiated_by_run_id"] = wf_id
    ids = upsert_runs(run_rows)
    run_ids = {ref: ids[(TASK_REFERENCE, ref)] for ref in tasks}
    features = {run_ids[ref]: task_features(row) for ref, row in tasks.items()}
    first_refs = {(r.name, r.task_id): ref for ref, r in tasks.items()}
    for ref, row in tasks.items():
        head = first_refs.get((row.name, row.first_attempt_task_id or row.task_id))
        if head is not None and head != ref:
            features[run_ids[ref]]["restart_of"] = run_uid(TASK_REFERENCE, head)
    set_run_features(features, apart=QUERIED_FEATURES)
    by_status = Counter(RUN_STATUS[r.status] for r in rows)
    nextflow_status = Counter(r.status for r in rows)
    set_run_features({wf_id: {"tasks": len(rows)} | log_features(nf_log) | {
        f"tasks_{s.value.lower()}": nextflow_status[s]
        for s in (TaskStatus.COMPLETED, TaskStatus.CACHED, TaskStatus.FAILED, TaskStatus.ABORTED)
    }})
    result = IngestResult(trace.source, {run_ref: wf_id}, len(rows), dict(by_status),
                          duplicate_lines=trace.duplicate_lines)
    if tree is not None:
        _record_files(tree, tasks, run_ids, result)
    return result


def _record_files(tree: WorkTree, tasks: dict[str, TraceRow], run_ids: dict[str, int],
                  result: IngestResult) -> None:
    """Save task outputs (copied) and link staged inputs to their artifacts."""
    import flowlineage as fl
    from flowlineage.adapters import link_run_inputs

    scanned: dict[int, TaskDir] = {}
    for ref, row in tasks.items():
        directory = tree.find(row.hash) if row.hash else None
        if directory is None:
            result.skipped.append(f"{row.name}: no work directory for hash {row.hash}")
            continue
        scanned[run_ids[ref]] = tree.scan(directory)
    runs = runs_by_id(list(scanned))
    outputs = [(path, runs[run_id]) for run_id, task in scanned.items() for path in task.outputs]
    saved = fl.save([artifact(path, run, key=os.path.relpath(path, tree.root))
                     for path, run in outputs])
    artifact_of = {path: saved_id(a) for (path, _), a in zip(outputs, saved, strict=True)}
    result.artifacts = len(saved)
    unknown = sorted({p for task in scanned.values() for p in task.inputs} - artifact_of.keys())
    found = fl.save([artifact(path, None) for path in unknown])
    artifact_of.update((path, saved_id(a)) for path, a in zip(unknown, found, strict=True))
    pairs = {(run_id, artifact_of[p]) for run_id, task in scanned.items() for p in task.inputs}
    link_run_inputs(sorted(pairs))
    result.input_links = len(pairs)

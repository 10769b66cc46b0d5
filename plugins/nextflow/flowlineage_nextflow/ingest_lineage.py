"""Ingest a Nextflow lineage store (``.lineage/``, Nextflow >= 25.04) in one transaction.

WorkflowRun and TaskRun records become Runs referenced by their ``lid://`` ids, FileOutput
records become Artifacts (hashed with flowlineage's own hash when the file is on disk, else
recorded with Nextflow's checksum), and task inputs become input links. See
``docs/nextflow.md`` for the full mapping.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .artifacts import (
    artifact,
    is_under,
    local_path,
    location,
    pipeline_folder,
    runs_by_id,
    saved_id,
)
from .lineage_records import (
    Checksum,
    FileOutput,
    HistoryEntry,
    LineageStore,
    Parameter,
    TaskOutput,
    TaskRun,
    WorkflowOutput,
    WorkflowRun,
    read_lineage_store,
)
from .mapping import (
    DEFAULT_PIPELINE,
    FINAL,
    TASK_REFERENCE,
    WORKFLOW_REFERENCE,
    IngestResult,
    aware,
    pipeline_key,
    process_key,
    run_uid,
    transform_id,
)
from .units import Json

if TYPE_CHECKING:
    from flowlineage import Run

LID = "lid://"
_OUTPUT = "#output"
COLLECTION_TYPES = frozenset({"Collection", "Map"})
"""WorkflowOutput entry types that name a channel of files rather than one file."""


def lid(key: str) -> str:
    """The LID of a record key."""
    return LID + key


def record_key(value: str) -> str:
    """The store key a LID points at (``lid://abc/x.txt`` -> ``abc/x.txt``)."""
    return value.removeprefix(LID).split("#", 1)[0]


def _run_hash(value: str) -> str:
    return record_key(value).split("/", 1)[0]


@dataclass
class _Files:
    """Artifacts to record: on disk (saved with our hash) or by Nextflow checksum."""

    folder: str
    """The pipeline's folder: only files under it are read."""
    on_disk: list[tuple[str, str, Run | None, str, str]] = field(default_factory=list)
    """(reference, local path, creating run, description, key)"""
    by_checksum: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(reference, register_artifacts row without storage_id, with its root under "_root")"""


def ingest_lineage(
    path: str | os.PathLike[str],
    pipeline: str | None = None,
    initiated_by: Run | None = None,
) -> IngestResult:
    """Record a lineage store directory (or one record file); return what was written.

    ``pipeline`` overrides the pipeline key taken from each run's repository (or main
    script). ``initiated_by`` becomes the initiating run of the store's workflow runs.
    Files on disk inside the pipeline's folder (where the ``.lineage`` store lives) are
    saved as copies; others, and absent ones, are recorded by Nextflow's checksum where
    they were, without reading them. Ingesting the same store again adds nothing.
    """
    from flowlineage.adapters import ensure_connected

    store = read_lineage_store(path)
    inst = ensure_connected()
    with inst.write():
        return _write(store, pipeline, initiated_by)


def _write(store: LineageStore, pipeline: str | None, initiated_by: Run | None
           ) -> IngestResult:
    from flowlineage.adapters import link_run_inputs, set_run_features, upsert_runs

    records = store.records
    workflows = {k: r for k, r in records.items() if isinstance(r, WorkflowRun)}
    tasks = {k: r for k, r in records.items() if isinstance(r, TaskRun)}
    files = {k: r for k, r in records.items() if isinstance(r, FileOutput)}
    task_outputs = {k: r for k, r in records.items() if isinstance(r, TaskOutput)}
    run_outputs = {k: r for k, r in records.items() if isinstance(r, WorkflowOutput)}
    history = {h.run_hash: h for h in store.history}
    result = IngestResult(store.root, skipped=[f"{s.key}: {s.reason}" for s in store.skipped])

    run_hashes = sorted({*workflows, *(_run_hash(t.workflow_run) for t in tasks.values()),
                         *(_run_hash(f.workflow_run) for f in files.values())})
    pipelines = {h: pipeline or _pipeline_of(workflows.get(h)) for h in run_hashes}
    wf_rows = [_workflow_row(h, workflows.get(h), history.get(h), run_outputs.get(h + _OUTPUT),
                             pipelines[h], initiated_by) for h in run_hashes]
    _keep_ended([r for r in wf_rows if r["status"] == "started"])
    ids = upsert_runs(wf_rows)
    wf_ids = {h: ids[(WORKFLOW_REFERENCE, lid(h))] for h in run_hashes}
    result.workflow_runs = {lid(h): wf_ids[h] for h in run_hashes}

    ended = _task_end_times(files.values(), task_outputs.values())
    processes: dict[tuple[str, str], int] = {}
    task_rows = []
    for key, task in tasks.items():
        wf = _run_hash(task.workflow_run)
        process = task.name.split(" (", 1)[0]
        if (pipelines[wf], process) not in processes:
            processes[(pipelines[wf], process)] = transform_id(
                process_key(pipelines[wf], process), "process")
        task_rows.append({
            "uid": run_uid(TASK_REFERENCE, lid(key)), "reference_type": TASK_REFERENCE,
            "reference": lid(key), "transform_id": processes[(pipelines[wf], process)],
            "name": task.name, "status": "completed", "started_at": None,
            "finished_at": ended.get(key), "initiated_by_run_id": wf_ids[wf],
        })
    ids = upsert_runs(task_rows)
    task_ids = {key: ids[(TASK_REFERENCE, lid(key))] for key in tasks}
    result.task_runs = len(task_ids)
    result.status_counts = {"completed": len(task_ids)} if task_ids else {}
    features = {task_ids[k]: _task_features(k, t) for k, t in tasks.items()}
    features.update((wf_ids[h], _workflow_features(w)) for h, w in workflows.items())
    set_run_features(features)

    runs = runs_by_id([*task_ids.values(), *wf_ids.values()])
    plan = _Files(pipeline_folder(store.root))
    for key, out in files.items():
        creator = _creator(out, files, task_ids, wf_ids)
        _plan_file(plan, lid(key), out.path, out.checksum, key.split("/", 1)[-1],
                   runs.get(creator) if creator is not None else None, out.size, result)
    externals: dict[str, list[int]] = {}
    for key, task in tasks.items():
        for external in _external_inputs(task.input):
            reference = str(external["path"])
            externals.setdefault(reference, []).append(task_ids[key])
            if len(externals[reference]) == 1:
                _plan_file(plan, reference, reference, _checksum_of(external.get("checksum")),
                           None, None, None, result)
    artifact_ids = _record(plan)
    result.artifacts = sum(1 for ref in artifact_ids if ref.startswith(LID))

    pairs = set()
    for key, task in tasks.items():
        for param in task.input:
            for value in param.lids():
                found = artifact_ids.get(lid(record_key(value)))
                if found is None:
                    result.skipped.append(f"{lid(key)} input {value}: no such file record")
                else:
                    pairs.add((task_ids[key], found))
    for reference, readers in externals.items():
        if reference in artifact_ids:
            pairs.update((run_id, artifact_ids[reference]) for run_id in readers)
    link_run_inputs(sorted(pairs))
    result.input_links = len(pairs)
    _record_workflow_outputs(run_outputs, files, wf_ids, pipelines, artifact_ids, result)
    return result


def _keep_ended(rows: list[dict[str, Any]]) -> None:
    """Runs this store shows unfinished keep an end recorded before (from the run's log)."""
    import flowlineage as fl

    by_ref = {r["reference"]: r for r in rows}
    if not by_ref:
        return
    for run in fl.Run.filter(reference_type=WORKFLOW_REFERENCE, reference__in=list(by_ref)):
        if run.status in FINAL:
            by_ref[str(run.reference)].update(status=run.status, finished_at=run.finished_at)


def _record_workflow_outputs(outputs: dict[str, WorkflowOutput], files: dict[str, FileOutput],
                             wf_ids: dict[str, int], pipelines: dict[str, str],
                             artifact_ids: dict[str, int], result: IngestResult) -> None:
    """Published files and ``WorkflowOutput`` entries become outputs of their workflow run:
    the run recreated those bytes (a task made them first); an output Nextflow declares a
    ``Collection`` or ``Map`` (a channel of files) also becomes a Collection of the run."""
    import flowlineage as fl
    from flowlineage.adapters import link_recreated

    made: dict[int, list[int]] = {}
    for key, out in files.items():
        if out.task_run is None and lid(key) in artifact_ids:
            made.setdefault(wf_ids[_run_hash(out.workflow_run)], []).append(artifact_ids[lid(key)])
    collections: list[tuple[int, str, list[int]]] = []
    for key, wo in outputs.items():
        run_id = wf_ids[_run_hash(wo.workflow_run)]
        for param in wo.output:
            found = [artifact_ids.get(lid(record_key(v))) for v in param.lids()]
            ids = list(dict.fromkeys(i for i in found if i is not None))
            if len(ids) < len(found):
                result.skipped.append(f"{lid(key)} output {param.name}: no such file record")
            made.setdefault(run_id, []).extend(ids)
            if param.type in COLLECTION_TYPES and ids:
                collections.append((run_id, f"{pipelines[_run_hash(wo.workflow_run)]}/"
                                            f"{param.name}", ids))
    wanted = {i for ids in made.values() for i in ids}
    arts = {a.id: a for a in fl.Artifact.filter(id__in=list(wanted))} if wanted else {}
    link_recreated(sorted({(run_id, i) for run_id, ids in made.items() for i in ids
                           if arts[i].run_id != run_id}))
    runs = runs_by_id(sorted({run_id for run_id, _, _ in collections}))
    for run_id, name, ids in collections:
        fl.Collection([arts[i] for i in ids], key=name, run=runs[run_id],
                      description=f"Nextflow workflow output {name}").save()
    result.collections = len(collections)


def _pipeline_of(run: WorkflowRun | None) -> str:
    """``owner/repo`` of the run's repository, else its main script's file name."""
    if run is None or run.workflow is None:
        return DEFAULT_PIPELINE
    repository = run.workflow.repository
    if repository:
        return repository.split("://", 1)[-1].split("/", 1)[-1].removesuffix(".git")
    scripts = run.workflow.script_files
    return os.path.basename(scripts[0].path) if scripts else DEFAULT_PIPELINE


def _workflow_row(run_hash: str, run: WorkflowRun | None, history: HistoryEntry | None,
                  outputs: WorkflowOutput | None, pipeline: str,
                  initiated_by: Run | None) -> dict[str, Any]:
    """A WorkflowRun's Run: completed once its WorkflowOutput record exists, else started."""
    started = history.timestamp if history is not None else None
    ended = outputs.created_at if outputs is not None else None
    row: dict[str, Any] = {
        "uid": run_uid(WORKFLOW_REFERENCE, lid(run_hash)), "reference_type": WORKFLOW_REFERENCE,
        "reference": lid(run_hash), "transform_id": transform_id(pipeline_key(pipeline),
                                                                 "pipeline"),
        "name": (run.name if run is not None else None) or (history.run_name if history else None),
        "status": "completed" if outputs is not None else "started",
        "started_at": aware(started) if started is not None else None,
        "finished_at": aware(ended) if ended is not None else None,
        "initiated_by_run_id": initiated_by.id if initiated_by is not None else None,
    }
    if run is not None:
        row["params"] = {p.name: p.value for p in run.params}
    return row


def _workflow_features(run: WorkflowRun) -> dict[str, Any]:
    features: dict[str, Any] = {"session_id": run.session_id}
    if run.workflow is not None:
        if run.workflow.repository:
            features["repository"] = run.workflow.repository
        if run.workflow.commit_id:
            features["commit_id"] = run.workflow.commit_id
    return features


def _task_features(key: str, task: TaskRun) -> dict[str, Any]:
    """``hash`` (as trace files show it, to join with trace records), code checksum and the
    task's software environment."""
    features: dict[str, Any] = {"hash": f"{key[:2]}/{key[2:8]}", "session_id": task.session_id}
    if task.code_checksum is not None:
        features["code_checksum"] = task.code_checksum.value
    for name in ("container", "conda", "spack", "architecture", "module_id"):
        value = getattr(task, name)
        if value is not None:
            features[name] = value
    return features


def _task_end_times(files: Iterable[FileOutput], outputs: Iterable[TaskOutput]
                    ) -> dict[str, datetime]:
    """When each task ended: its TaskOutput's time, else its newest output file's."""
    ended: dict[str, datetime] = {}
    for out in files:
        if out.task_run is not None and out.modified_at is not None:
            key = record_key(out.task_run)
            ended[key] = max(ended.get(key, out.modified_at), out.modified_at)
    for task_output in outputs:
        if task_output.created_at is not None:
            ended[record_key(task_output.task_run)] = task_output.created_at
    return {k: aware(v) for k, v in ended.items()}


def _creator(out: FileOutput, files: dict[str, FileOutput], task_ids: dict[str, int],
             wf_ids: dict[str, int]) -> int | None:
    """The run that made a file: its task, or for a published file the task that made its
    source file; the workflow run when neither is in the store."""
    if out.task_run is not None:
        return task_ids.get(record_key(out.task_run))
    source = files.get(record_key(out.source)) if out.source else None
    if source is not None and source.task_run is not None:
        found = task_ids.get(record_key(source.task_run))
        if found is not None:
            return found
    return wf_ids.get(_run_hash(out.workflow_run))


def _checksum_of(value: Json) -> Checksum | None:
    if isinstance(value, dict) and isinstance(value.get("value"), str) and isinstance(
            value.get("algorithm"), str):
        mode = value.get("mode")
        return Checksum(str(value["value"]), str(value["algorithm"]),
                        mode if isinstance(mode, str) else None)
    return None


def _external_inputs(params: tuple[Parameter, ...]) -> list[dict[str, Json]]:
    """``{path, checksum}`` inputs: files from outside the store."""
    found: list[dict[str, Json]] = []
    pending: list[Json] = [p.value for p in params]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            if isinstance(item.get("path"), str):
                found.append(item)
            else:
                pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return found


def _plan_file(plan: _Files, reference: str, path: str, checksum: Checksum | None,
               tail: str | None, run: Run | None, size: int | None,
               result: IngestResult) -> None:
    local = local_path(path)
    description = reference + (f" (nextflow checksum {checksum.value})" if checksum else "")
    root, key = location(path, _work_tail(path, reference, tail))
    on_disk = local is not None and os.path.exists(local)
    if on_disk and is_under(local or "", plan.folder):
        plan.on_disk.append((reference, local or "", run, description, key))
        return
    if checksum is None:
        why = f"is outside the pipeline folder {plan.folder}" if on_disk else "is not on disk"
        result.skipped.append(f"{reference}: {path} {why} and has no checksum")
        return
    if local is not None:
        root = "file://" + root  # absent here: recorded where it was, nothing created
    plan.by_checksum.append((reference, {
        "hash": checksum.value, "_hash_type": f"nextflow-{checksum.algorithm}",
        "_root": root, "_storage_key": key, "key": key, "size": size,
        "suffix": _suffix(key), "run_id": run.id if run is not None else None,
        "description": description,
    }))


def _work_tail(path: str, reference: str, tail: str | None) -> str | None:
    """The part of a task output's path under the work directory (``ab/cdef…/file``)."""
    if tail is None or not reference.startswith(LID):
        return tail
    task_hash = record_key(reference).split("/", 1)[0]
    work_tail = f"{task_hash[:2]}/{task_hash[2:]}/{tail}"
    return work_tail if path.endswith("/" + work_tail) else tail


def _suffix(key: str) -> str:
    name = key.rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[1] if "." in name.lstrip(".") else ""


def _record(plan: _Files) -> dict[str, int]:
    """Save or register every planned file; return artifact ids by reference."""
    import flowlineage as fl
    from flowlineage.adapters import register_artifacts

    ids: dict[str, int] = {}
    saved = fl.save([artifact(path, run, description, key)
                     for _, path, run, description, key in plan.on_disk])
    ids.update((ref, saved_id(a)) for (ref, *_), a in zip(plan.on_disk, saved, strict=True))
    from flowlineage.adapters import record_locations, register_storage
    rows = []
    remote = []  # places of objects not on this machine's disk: their URIs
    for reference, row in plan.by_checksum:
        row = dict(row)
        root = row.pop("_root")
        row["storage_id"] = register_storage(root).id
        rows.append((reference, row))
        if not root.startswith("file:"):
            remote.append((row, f"{root}/{row['_storage_key']}"))
    by_hash = register_artifacts([row for _, row in rows])
    ids.update((ref, by_hash[row["hash"]]) for ref, row in rows)
    record_locations({"artifact_id": by_hash[row["hash"]], "path": uri, "run_id": row["run_id"],
                      "size": row["size"]} for row, uri in remote)
    return ids

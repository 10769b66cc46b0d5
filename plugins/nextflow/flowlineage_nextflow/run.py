"""Run a pipeline through nextflowpy and record it: live while it runs, in full when it ends.

nextflowpy (``import nextflow``) launches ``nextflow run`` and polls ``.nextflow.log``; it waits
forever when Nextflow dies before writing a log. Here its polling runs in a thread that a
deadline can stop: the Nextflow process group is killed on timeout, and a process that exited
without nextflowpy noticing ends the wait after a grace period.
"""

from __future__ import annotations

import copy
import glob
import os
import queue
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowlineage import Run

    from .mapping import IngestResult

KILL_GRACE = 5.0
"""Seconds between SIGTERM and SIGKILL when stopping Nextflow."""


class _Cancelled(Exception):
    """Raised inside nextflowpy's polling loop to end it."""


class _IO:
    """The file access nextflowpy does (its ``io`` hook), failing once cancelled."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()

    def _check(self) -> None:
        if self.cancelled.is_set():
            raise _Cancelled()

    def abspath(self, path: str) -> str:
        return os.path.abspath(path)

    def read(self, path: str) -> str:
        self._check()
        with open(path) as f:
            return f.read()

    def ctime(self, path: str) -> datetime:
        self._check()
        return datetime.fromtimestamp(os.path.getctime(path))

    def glob(self, pattern: str) -> list[str]:
        self._check()
        return glob.glob(pattern)

    def listdir(self, path: str) -> list[str]:
        return os.listdir(path)


class _Launcher:
    """Starts nextflowpy's command line in its own process group, so it can be stopped."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.started = threading.Event()

    def __call__(self, command: str) -> None:
        self.process = subprocess.Popen(command, shell=True, start_new_session=True)
        self.started.set()

    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None

    def stop(self) -> None:
        """SIGTERM the process group, SIGKILL it if still there after a grace period."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self.process.wait(KILL_GRACE)
            except subprocess.TimeoutExpired:
                pass
        self._signal(signal.SIGKILL)  # children that outlived the shell
        self.process.wait()

    def _signal(self, sig: signal.Signals) -> None:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass


@dataclass
class PipelineRun:
    """The outcome of :func:`run`."""

    run: Run
    """The workflow Run (reference: Nextflow's session id)."""
    status: str
    timed_out: bool
    execution: Any
    """nextflowpy's last ``Execution`` (None if Nextflow never wrote a log)."""
    trace: IngestResult | None = None
    lineage: IngestResult | None = None
    return_code: int | None = None


@dataclass
class _Live:
    """Records the workflow Run and its task Runs from nextflowpy's execution objects."""

    pipeline: str
    params: dict[str, str] | None
    parent: Run | None
    session: str | None = None
    run_id: int | None = None
    written: dict[str, tuple[Any, ...]] = field(default_factory=dict)
    transforms: dict[str, int] = field(default_factory=dict)

    def record(self, execution: Any) -> None:
        from flowlineage.adapters import get_instance, upsert_runs

        from .mapping import (
            TASK_REFERENCE,
            WORKFLOW_REFERENCE,
            pipeline_key,
            process_key,
            run_uid,
            task_reference,
            transform_id,
        )

        if not execution.session_uuid:
            return
        with get_instance().write():
            if self.run_id is None:
                self.session = execution.session_uuid
                self.run_id = upsert_runs([{
                    "uid": run_uid(WORKFLOW_REFERENCE, execution.session_uuid),
                    "reference_type": WORKFLOW_REFERENCE, "reference": execution.session_uuid,
                    "transform_id": transform_id(pipeline_key(self.pipeline), "pipeline"),
                    "name": execution.identifier or None, "status": "started",
                    "started_at": _aware(execution.started) or datetime.now(UTC),
                    "params": self.params, "cli_args": execution.command,
                    "initiated_by_run_id": self.parent.id if self.parent is not None else None,
                }])[(WORKFLOW_REFERENCE, execution.session_uuid)]
                _notify("started", self.run_id)
            rows = []
            for task in execution.process_executions:
                row = {
                    "reference_type": TASK_REFERENCE, "name": task.name,
                    "reference": task_reference(execution.session_uuid, task.identifier, 0),
                    "status": _task_status(task), "initiated_by_run_id": self.run_id,
                    "started_at": _aware(task.started or task.submitted),
                    "finished_at": _aware(task.finished),
                }
                state = (row["status"], row["started_at"], row["finished_at"])
                if self.written.get(row["reference"]) == state:
                    continue
                self.written[row["reference"]] = state
                row["uid"] = run_uid(TASK_REFERENCE, row["reference"])
                key = process_key(self.pipeline, task.process)
                if key not in self.transforms:
                    self.transforms[key] = transform_id(key, "process")
                row["transform_id"] = self.transforms[key]
                rows.append(row)
            upsert_runs(rows)


def _aware(value: datetime | None) -> datetime | None:
    from .mapping import aware

    return aware(value) if value is not None else None


def _task_status(task: Any) -> str:
    """A nextflowpy process execution's run status."""
    if task.cached:
        return "completed"
    if task.status == "-":
        return "started" if task.started else "scheduled"
    from .mapping import RUN_STATUS
    from .trace import TaskStatus

    try:
        return RUN_STATUS[TaskStatus(task.status)]
    except ValueError:
        return "errored"


def _notify(event: str, run_id: int) -> None:
    import flowlineage as fl
    from flowlineage.adapters import hook, notify

    hooks = hook()
    caller = hooks.flowlineage_run_started if event == "started" else hooks.flowlineage_run_finished
    notify(caller, run=fl.Run.get(run_id))


def _nextflowpy() -> Any:
    from flowlineage.adapters import require
    from flowlineage.errors import ConfigurationError

    try:
        return require("nextflow", "nextflow")
    except ImportError:
        raise
    except Exception as exc:  # nextflowpy refuses to import without a nextflow executable
        raise ConfigurationError(f"cannot use nextflowpy: {exc}") from exc


def run(
    pipeline: str | os.PathLike[str],
    *,
    run_path: str | os.PathLike[str] | None = None,
    params: dict[str, str] | None = None,
    profiles: list[str] | None = None,
    configs: list[str] | None = None,
    resume: bool | str = False,
    pipeline_key: str | None = None,
    timeout: float = 24 * 3600,
    poll: float = 1.0,
    trace: str = "trace.txt",
    lineage: bool = True,
) -> PipelineRun:
    """Run ``nextflow run <pipeline>`` in ``run_path`` (default: here) and record it.

    While it runs, the workflow Run (reference: the session id) and one Run per task are
    updated from nextflowpy's view of ``.nextflow.log`` every ``poll`` seconds. When it ends,
    the trace file (with the ``work`` directory's files) and, if ``lineage``, the
    ``.lineage`` store are ingested. After ``timeout`` seconds Nextflow is killed and the run
    is recorded ``aborted``; a failing Nextflow gives ``errored``. ``params``, ``profiles``,
    ``configs`` and ``resume`` go to nextflowpy (its command line is run by a shell: do not
    pass untrusted values). The workflow Run is initiated by the caller's current run.
    """
    from flowlineage.adapters import ensure_connected, get_current_run

    from .mapping import default_pipeline

    nextflow = _nextflowpy()
    ensure_connected()
    where = Path(run_path or os.getcwd()).resolve()
    where.mkdir(parents=True, exist_ok=True)
    script = Path(pipeline)
    key = pipeline_key or (default_pipeline(script.parent) if script.name == "main.nf"
                           else default_pipeline(script))
    live = _Live(key, params, get_current_run())
    launcher, io = _Launcher(), _IO()
    updates: queue.Queue[tuple[str, Any]] = queue.Queue()

    def follow() -> None:
        try:
            for execution in nextflow.run_and_poll(
                    str(pipeline), run_path=str(where), runner=launcher, io=io, params=params,
                    profiles=profiles, configs=configs, resume=resume, trace=trace,
                    sleep=poll):
                updates.put(("update", copy.deepcopy(execution)))
            updates.put(("done", None))
        except _Cancelled:
            updates.put(("cancelled", None))
        except Exception as exc:  # reported by the caller's thread
            updates.put(("error", exc))

    poller = threading.Thread(target=follow, name="flowlineage-nextflowpy", daemon=True)
    poller.start()
    deadline = time.monotonic() + timeout
    execution: Any = None
    timed_out = False
    exited_at: float | None = None
    try:
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            try:
                kind, value = updates.get(timeout=min(remaining, poll))
            except queue.Empty:
                if launcher.exited():  # nextflowpy may wait forever for a log: give it a while
                    exited_at = exited_at or time.monotonic()
                    if time.monotonic() - exited_at > 3 * poll + 2:
                        break
                continue
            if kind == "update":
                execution = value
                live.record(execution)
            elif kind == "error":
                raise value
            else:
                break
    finally:
        io.cancelled.set()
        launcher.stop()
        poller.join(timeout=10)
    return _finish(live, execution, launcher, where, trace, lineage, timed_out, timeout)


def _finish(live: _Live, execution: Any, launcher: _Launcher, where: Path, trace: str,
            lineage: bool, timed_out: bool, timeout: float) -> PipelineRun:
    """Ingest what the run left and record its end."""
    import flowlineage as fl
    from flowlineage.adapters import upsert_runs

    from .ingest_lineage import ingest_lineage
    from .ingest_trace import ingest_trace
    from .mapping import WORKFLOW_REFERENCE, pipeline_key, run_uid, transform_id

    return_code = _return_code(where, launcher)
    if timed_out:
        status, why = "aborted", f"nextflow timed out after {timeout:g} s and was stopped"
    elif return_code == 0:
        status, why = "completed", None
    else:
        status, why = "errored", f"nextflow exited with code {return_code}"
    if execution is not None:
        live.record(execution)
    result_trace = result_lineage = None
    trace_path = where / trace
    if live.session is not None and trace_path.is_file():
        work = where / "work"
        result_trace = ingest_trace(trace_path, run_id=live.session,
                                    run_name=execution.identifier or None,
                                    pipeline=live.pipeline,
                                    workdir=work if work.is_dir() else None)
    reference = live.session or f"launch-{uuid.uuid4()}"
    ended = _aware(execution.finished) if execution is not None else None
    run_id = upsert_runs([{
        "uid": run_uid(WORKFLOW_REFERENCE, reference), "reference_type": WORKFLOW_REFERENCE,
        "reference": reference, "status": status, "description": why,
        "transform_id": transform_id(pipeline_key(live.pipeline), "pipeline"),
        "finished_at": ended or datetime.now(UTC),
        "initiated_by_run_id": live.parent.id if live.parent is not None else None,
    }])[(WORKFLOW_REFERENCE, reference)]
    workflow = fl.Run.get(run_id)
    store = where / ".lineage"
    if lineage and live.session is not None and store.is_dir():
        result_lineage = ingest_lineage(store, pipeline=live.pipeline)
        _adopt_lineage_runs(result_lineage, live.session, workflow, status)
    _notify("finished", run_id)
    return PipelineRun(workflow, status, timed_out, execution, result_trace, result_lineage,
                       return_code)


def _adopt_lineage_runs(result: IngestResult, session: str, workflow: Run, status: str) -> None:
    """Make this session's lineage workflow Runs initiated by ``workflow``, ended with it."""
    import flowlineage as fl
    from flowlineage.adapters import end_run

    for run_id in result.workflow_runs.values():
        found = fl.Run.get(run_id)
        if found.features.get_values().get("session_id") != session:
            continue
        if found.initiated_by_run_id != workflow.id:
            found.initiated_by_run_id = workflow.id
            found.save()
        if found.status == "started":
            end_run(found, status, finished_at=workflow.finished_at)


def _return_code(where: Path, launcher: _Launcher) -> int | None:
    """Nextflow's exit code as nextflowpy's command line saved it, else the shell's."""
    try:
        text = (where / "rc.txt").read_text().strip()
    except OSError:
        text = ""
    if text.lstrip("-").isdigit():
        return int(text)
    process = launcher.process
    return process.returncode if process is not None else None

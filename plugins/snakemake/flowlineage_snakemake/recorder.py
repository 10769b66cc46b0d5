"""Turning the log records of one Snakemake process into runs, artifacts and links.

``Recorder.handle`` only updates in-memory state (it runs on Snakemake's log-listener
thread, once per record). A flush writes what changed in a few transactions: the job runs
in one ``upsert_runs`` call, outputs and newly seen inputs with one ``fl.save`` each, input
links in one ``link_run_inputs`` call. Flushes happen every ``FLUSH_SECONDS`` on a
background thread, at once when a job with ``temp()`` outputs finished (Snakemake deletes
those once consumed), when ``MAX_BUFFERED`` jobs wait, and when Snakemake closes the logger,
which is also where the invocation ends: Snakemake sends no "workflow finished" event.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flowlineage.errors import NotConnected, ValidationError

from . import events, introspect

if TYPE_CHECKING:
    from flowlineage.instance import Instance
    from flowlineage.models import Artifact, Run

logger = logging.getLogger("flowlineage.snakemake")

WORKFLOW_REFERENCE = "snakemake_workflow"
JOB_REFERENCE = "snakemake_job"
REGISTER_MODES = ("in-place", "copy")
FLUSH_SECONDS = 1.0
MAX_BUFFERED = 500
PARALLEL_HASH_BYTES = 64 * 2**20
RUNNING = ("started", "restarted")
LOG_KIND, BENCHMARK_KIND = "log", "benchmark"


@dataclass(frozen=True)
class Options:
    """Recorder settings (the logger plugin's ``--logger-flowlineage-*`` options)."""

    db: str | None = None
    storage: str | None = None
    register: str = "in-place"
    hash_inputs: bool = True

    def __post_init__(self) -> None:
        if self.register not in REGISTER_MODES:
            raise ValidationError(
                f"register must be one of {', '.join(REGISTER_MODES)}, not {self.register!r}"
            )


@dataclass
class Job:
    """One Snakemake job as the log has described it so far."""

    jobid: int
    rule: str
    inputs: list[str]
    outputs: list[str]
    logs: list[str]
    benchmarks: list[str]
    params: dict[str, Any]
    shellcmd: str | None
    started_at: datetime
    has_temp: bool
    status: str = "started"
    finished_at: datetime | None = None
    error: str | None = None
    attempt: int = 1
    run_id: int | None = None
    announced: bool = False  # run_started hook fired
    ended: bool = False  # run_finished hook fired


@dataclass
class Invocation:
    """One ``snakemake`` execution (one workflow id) and its jobs."""

    workflow_id: str
    workdir: str
    snakefile: str
    snakefile_key: str
    cli_args: str | None
    user: str | None
    started_at: datetime
    run_id: int | None = None
    transform_id: int | None = None
    checked: bool = False  # dry-run / touch ruled out
    interrupted: bool = False
    failed: bool = False
    error: str | None = None
    pending_error: str | None = None  # an error message waiting for its job_error
    last_heartbeat: float = 0.0
    rule_transforms: dict[str, int] = field(default_factory=dict)
    rule_has_temp: dict[str, bool] = field(default_factory=dict)
    jobs: dict[int, Job] = field(default_factory=dict)
    producers: dict[str, Job] = field(default_factory=dict)  # output path -> job
    artifact_ids: dict[str, int] = field(default_factory=dict)  # path -> artifact id
    dirty: set[int] = field(default_factory=set)  # run row to (re)write
    unsaved: set[int] = field(default_factory=set)  # ended, outputs not saved yet
    unlinked: set[int] = field(default_factory=set)  # inputs not linked yet
    urgent: bool = False


class Recorder:
    """Records the invocations of one Snakemake logger (one per ``SnakemakeApi``)."""

    def __init__(self, options: Options, dryrun: bool = False, parent: Run | None = None) -> None:
        self.options = options
        self.dryrun = dryrun
        self.parent = parent
        self._lock = threading.RLock()
        self._inv: Invocation | None = None
        self._inst: Instance | None = None
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._closed = False

    # ------------------------------------------------------------------ events

    def handle(self, record: logging.LogRecord) -> None:
        """Take one Snakemake log record into account (never raises)."""
        if self.dryrun:
            return
        try:
            event = events.event_of(record)
            with self._lock:
                if event == events.WORKFLOW_STARTED:
                    self._begin(record)
                    return
                inv = self._inv
                if inv is None:
                    return
                if events.is_interruption(record, event):
                    inv.interrupted = True
                if event == events.JOB_INFO:
                    self._job_info(inv, record)
                elif event == events.JOB_FINISHED:
                    self._job_finished(inv, record)
                elif event == events.JOB_ERROR:
                    self._job_error(inv, record)
                elif event == events.ERROR:
                    self._error(inv, record)
                if self._inv is not None and (inv.urgent or len(inv.dirty) >= MAX_BUFFERED):
                    self._flush(inv)
        except Exception as e:  # a logger must never break the workflow
            logger.warning("flowlineage: could not record Snakemake event: %s: %s",
                           type(e).__name__, e)

    def close(self) -> None:
        """End the open invocation: settle its jobs, write everything, record its status."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(timeout=60)
        with self._lock:
            if self._inv is not None:
                try:
                    self._end_invocation(self._inv)
                except Exception as e:
                    logger.warning("flowlineage: could not record the Snakemake run: %s: %s",
                                   type(e).__name__, e)
                self._inv = None

    def _begin(self, record: logging.LogRecord) -> None:
        if self._inv is not None:  # a second workflow executed through the same API
            self._end_invocation(self._inv)
        workdir = os.getcwd()
        snakefile = os.path.abspath(str(getattr(record, "snakefile_main", "Snakefile")))
        rel = os.path.relpath(snakefile, workdir)
        key = rel if not rel.startswith("..") else snakefile
        self._inv = Invocation(
            workflow_id=str(getattr(record, "workflow_id", "")) or _new_id(),
            workdir=workdir,
            snakefile=snakefile,
            snakefile_key=f"snakemake:{key}",
            cli_args=getattr(record, "cmd", None),
            user=getattr(record, "user", None),
            started_at=events.created_at(record),
        )
        if self._flusher is None:
            self._flusher = threading.Thread(target=self._flush_loop, daemon=True,
                                             name="flowlineage-snakemake")
            self._flusher.start()

    def _job_info(self, inv: Invocation, record: logging.LogRecord) -> None:
        if not self._check(inv):
            return
        jobid = int(getattr(record, "jobid", -1))
        job = inv.jobs.get(jobid)
        if job is not None:  # Snakemake restarts a failed job (--retries)
            job.attempt += 1
            job.params["attempt"] = job.attempt
            job.status, job.error, job.finished_at = "restarted", None, None
            job.ended = False
            inv.dirty.add(jobid)
            return
        rule = str(getattr(record, "rule_name", "unknown"))
        if rule not in inv.rule_has_temp:
            inv.rule_has_temp[rule] = introspect.rule_has_temp_output(
                introspect.current_workflow(inv.snakefile), rule)
        wd = inv.workdir
        job = Job(
            jobid=jobid,
            rule=rule,
            inputs=events.local_paths(getattr(record, "input", None), wd),
            outputs=events.local_paths(getattr(record, "output", None), wd),
            logs=events.local_paths(getattr(record, "log", None), wd),
            benchmarks=events.local_paths(getattr(record, "benchmark", None), wd),
            params=events.job_params(record),
            shellcmd=getattr(record, "shellcmd", None),
            started_at=events.created_at(record),
            has_temp=inv.rule_has_temp[rule],
        )
        inv.jobs[jobid] = job
        for path in job.outputs:
            inv.producers[path] = job
        for path in job.inputs:  # a job starts only once its producers are done: this
            producer = inv.producers.get(path)  # settles them when -q hid job_finished
            if producer is not None and producer.status in RUNNING:
                self._complete(inv, producer, None)
        inv.dirty.add(jobid)
        inv.unlinked.add(jobid)

    def _job_finished(self, inv: Invocation, record: logging.LogRecord) -> None:
        job = inv.jobs.get(int(getattr(record, "job_id", -1)))
        if job is not None and job.status in RUNNING:
            self._complete(inv, job, events.created_at(record))

    def _job_error(self, inv: Invocation, record: logging.LogRecord) -> None:
        job = inv.jobs.get(int(getattr(record, "jobid", -1)))
        if job is None:
            return
        message = inv.pending_error or job.error or _job_error_text(record)
        inv.pending_error = None
        aborted = inv.interrupted or events.killed_by_user(message)
        self._end_job(inv, job, "aborted" if aborted else "errored", events.created_at(record),
                      message)

    def _error(self, inv: Invocation, record: logging.LogRecord) -> None:
        """An error message: about a job (it names the job, or a job_error follows) or not."""
        text = events.message_of(record)
        if getattr(record, "exception", None) == "KeyboardInterrupt":
            return
        job = inv.jobs.get(events.job_in_error(text) or -1)
        if job is not None:
            job.error = text
            return
        self._unclaimed_error(inv)
        inv.pending_error = text

    @staticmethod
    def _unclaimed_error(inv: Invocation) -> None:
        """An error no job_error claimed is the invocation's own (a DAG error, a final
        "at least one job did not complete")."""
        if inv.pending_error is not None:
            inv.failed, inv.error, inv.pending_error = True, inv.pending_error, None

    def _check(self, inv: Invocation) -> bool:
        """Make sure jobs really run (not a dry run or ``--touch``); else forget the run."""
        if not inv.checked:
            if introspect.executes_nothing(introspect.current_workflow(inv.snakefile)):
                self._inv = None
                return False
            inv.checked = True
        return True

    def _complete(self, inv: Invocation, job: Job, when: datetime | None) -> None:
        self._end_job(inv, job, "completed", when or _outputs_time(job.outputs), None)
        if job.has_temp:
            inv.urgent = True

    @staticmethod
    def _end_job(inv: Invocation, job: Job, status: str, when: datetime,
                 error: str | None) -> None:
        job.status, job.finished_at, job.error = status, when, error
        inv.dirty.add(job.jobid)
        inv.unsaved.add(job.jobid)

    def _settle(self, inv: Invocation) -> None:
        """Give every job still running at the end its status.

        Interrupted: aborted. Otherwise it ended unseen (``-q`` hides job_finished):
        completed when its outputs exist, else errored (e.g. missing output files).
        """
        now = datetime.now(UTC)
        for job in inv.jobs.values():
            if job.status not in RUNNING:
                continue
            missing = [p for p in job.outputs if not os.path.lexists(p)]
            if inv.interrupted:
                self._end_job(inv, job, "aborted", now, job.error)
            elif not missing:
                self._complete(inv, job, None)
            else:
                rel = ", ".join(os.path.relpath(p, inv.workdir) for p in missing)
                self._end_job(inv, job, "errored", now,
                              job.error or f"output files missing after the job: {rel}")

    # ------------------------------------------------------------------ writing

    def _flush_loop(self) -> None:
        while not self._stop.wait(FLUSH_SECONDS):
            with self._lock:
                inv = self._inv
                if inv is None or not inv.checked or self._stop.is_set():
                    continue
                try:
                    self._flush(inv)
                except Exception as e:  # retried at the next flush
                    logger.warning("flowlineage: could not record Snakemake jobs yet: %s: %s",
                                   type(e).__name__, e)

    def _end_invocation(self, inv: Invocation) -> None:
        if not self._check(inv):
            return
        self._settle(inv)
        self._unclaimed_error(inv)
        self._flush(inv)
        failed = [events.job_name(j.rule, j.params) for j in inv.jobs.values()
                  if j.status == "errored"]
        status = ("aborted" if inv.interrupted
                  else "errored" if inv.failed or failed
                  else "completed")
        if status == "errored" and inv.error is None:
            inv.error = f"failed jobs: {', '.join(failed)}"
        run_id = self._write_invocation(inv, status, datetime.now(UTC))
        from flowlineage.models import Run
        from flowlineage.plugins import notify

        notify("flowlineage_run_finished", run=Run.get(run_id))

    def _flush(self, inv: Invocation) -> None:
        """Write what changed since the last flush (a few transactions)."""
        from flowlineage.ingest import upsert_runs
        from flowlineage.models import Run
        from flowlineage.plugins import notify

        inv.urgent = False
        if inv.run_id is None:
            notify("flowlineage_run_started",
                   run=Run.get(self._write_invocation(inv, "started", None)))
        now = datetime.now(UTC)
        if time.monotonic() - inv.last_heartbeat > _heartbeat_seconds():
            inv.dirty.update(j.jobid for j in inv.jobs.values() if j.status in RUNNING)
            self._write_invocation(inv, "started", None)
        dirty = [inv.jobs[i] for i in sorted(inv.dirty)]
        for rule in {j.rule for j in dirty} - inv.rule_transforms.keys():
            inv.rule_transforms[rule] = self._rule_transform(inv, rule)
        if dirty:
            ids = upsert_runs([self._job_row(inv, j, now) for j in dirty])
            for j in dirty:
                j.run_id = ids[(JOB_REFERENCE, f"{inv.workflow_id}:{j.jobid}")]
        unsaved = [inv.jobs[i] for i in sorted(inv.unsaved)]
        wanted = {j.run_id for j in dirty} | {j.run_id for j in unsaved}
        runs = {r.id: r for r in Run.filter(id__in=wanted).all()} if wanted else {}
        for j in dirty:
            if not j.announced and j.run_id in runs:
                j.announced = True
                notify("flowlineage_run_started", run=runs[j.run_id])
        self._save_outputs(inv, unsaved, runs)
        self._link_inputs(inv, [inv.jobs[i] for i in sorted(inv.unlinked)])
        for j in dirty:
            if j.status not in RUNNING and not j.ended and j.run_id in runs:
                j.ended = True
                notify("flowlineage_run_finished", run=runs[j.run_id])
        inv.dirty.clear()

    def _connect(self, inv: Invocation) -> Instance:
        if self._inst is None:
            from flowlineage.instance import connect, get_instance
            from flowlineage.settings import normalize_root

            db, storage = self.options.db, self.options.storage
            try:
                current: Instance | None = get_instance()
            except NotConnected:
                current = None
            if current is not None and (db is None or db == current.settings.db_url) and (
                storage is None or normalize_root(storage) == current.settings.storage_root
            ):
                self._inst = current
            else:
                self._inst = connect(db, storage)
        if self.options.register == "in-place":
            from flowlineage import artifact_save

            self._inst.register_storage(inv.workdir, description="Snakemake working directory")
            artifact_save._storage_roots.cache_clear()  # core caches roots; see docs
        return self._inst

    def _write_invocation(self, inv: Invocation, status: str,
                          finished_at: datetime | None) -> int:
        """Insert or update the invocation's run; return its id."""
        from flowlineage.ingest import get_or_create_transform, upsert_runs

        row: dict[str, Any] = {}
        if inv.run_id is None:
            self._connect(inv)
            source = _read_text(inv.snakefile)
            tf = get_or_create_transform(inv.snakefile_key, type="pipeline", source_code=source)
            inv.transform_id = tf.id
            parent = self.parent or _parent_from_env()
            row = {
                "params": introspect.config_of(introspect.current_workflow(inv.snakefile)),
                "cli_args": inv.cli_args,
                "created_by": inv.user,
                "initiated_by_run_id": parent.id if parent is not None else None,
            }
        row.update({
            "reference_type": WORKFLOW_REFERENCE, "reference": inv.workflow_id,
            "transform_id": inv.transform_id, "status": status, "started_at": inv.started_at,
            "finished_at": finished_at, "heartbeat_at": datetime.now(UTC),
            "description": inv.error if status == "errored" else None,
        })
        inv.run_id = upsert_runs([row])[(WORKFLOW_REFERENCE, inv.workflow_id)]
        inv.last_heartbeat = time.monotonic()
        return inv.run_id

    def _rule_transform(self, inv: Invocation, rule: str) -> int:
        from flowlineage.ingest import get_or_create_transform

        workflow = introspect.current_workflow(inv.snakefile)
        tf = get_or_create_transform(f"{inv.snakefile_key}:{rule}", type="rule",
                                     source_code=introspect.rule_source(workflow, rule))
        return tf.id

    @staticmethod
    def _job_row(inv: Invocation, job: Job, now: datetime) -> dict[str, Any]:
        return {
            "reference_type": JOB_REFERENCE,
            "reference": f"{inv.workflow_id}:{job.jobid}",
            "transform_id": inv.rule_transforms[job.rule],
            "name": events.job_name(job.rule, job.params),
            "status": job.status,
            "started_at": job.started_at,
            "finished_at": job.finished_at,
            "heartbeat_at": now,
            "params": job.params,
            "cli_args": job.shellcmd,
            "description": job.error,
            "initiated_by_run_id": inv.run_id,
            "created_by": inv.user,
        }

    def _save_outputs(self, inv: Invocation, jobs: list[Job], runs: dict[int, Run]) -> None:
        """Save outputs of completed jobs, and logs and benchmarks of every ended job."""
        items: list[tuple[str, str | None, Run | None]] = []
        for job in jobs:
            run = runs.get(job.run_id) if job.run_id is not None else None
            files: list[tuple[str, str | None]] = (
                [(p, None) for p in job.outputs] if job.status == "completed" else [])
            files += [(p, LOG_KIND) for p in job.logs]
            files += [(p, BENCHMARK_KIND) for p in job.benchmarks]
            items += [(p, kind, run) for p, kind in files if os.path.exists(p)]
        self._save(inv, items)
        inv.unsaved.difference_update(j.jobid for j in jobs)

    def _link_inputs(self, inv: Invocation, jobs: list[Job]) -> None:
        """Link job inputs, registering files not seen yet; outside ones feed the invocation."""
        from flowlineage.ingest import link_run_inputs

        new = [p for p in dict.fromkeys(p for j in jobs for p in j.inputs)
               if p not in inv.artifact_ids and os.path.exists(p)]
        if new:
            if self.options.hash_inputs:
                self._save(inv, [(p, None, None) for p in new])
            else:
                self._find_unhashed(inv, new)
        pairs: list[tuple[int, int]] = []
        assert inv.run_id is not None
        for job in jobs:
            assert job.run_id is not None
            for path in job.inputs:
                aid = inv.artifact_ids.get(path)
                if aid is None:
                    continue
                pairs.append((job.run_id, aid))
                if path not in inv.producers:
                    pairs.append((inv.run_id, aid))
        link_run_inputs(pairs)
        inv.unlinked.difference_update(j.jobid for j in jobs)

    def _save(self, inv: Invocation, items: list[tuple[str, str | None, Run | None]]) -> None:
        """Save files as artifacts in one batch (one by one if the batch fails)."""
        if not items:
            return
        from flowlineage.api import save

        saved: list[Artifact | None] = [self._artifact(inv, *item) for item in items]
        small = sum(_size(path) for path, _, _ in items) < PARALLEL_HASH_BYTES
        try:  # hashing threads only pay off for big files
            save([a for a in saved if a is not None], max_workers=1 if small else None)
        except Exception as e:
            logger.warning("flowlineage: batch save failed (%s: %s); saving one by one",
                           type(e).__name__, e)
            saved = [self._save_one(inv, *item) for item in items]
        for (path, _, _), art in zip(items, saved, strict=True):
            if art is not None and art.id is not None:
                inv.artifact_ids[path] = art.id

    def _save_one(self, inv: Invocation, path: str, kind: str | None,
                  run: Run | None) -> Artifact | None:
        try:
            return self._artifact(inv, path, kind, run).save()
        except Exception as e:
            logger.warning("flowlineage: could not save %s: %s: %s", path, type(e).__name__, e)
            return None

    def _artifact(self, inv: Invocation, path: str, kind: str | None,
                  run: Run | None) -> Artifact:
        """An unsaved artifact for a file; ``run=None`` means "created by no known run"."""
        from flowlineage.models import Artifact

        rel = os.path.relpath(path, inv.workdir)
        inside = not rel.startswith("..")
        art = Artifact(path, key=rel if inside else None,
                       description=None if inside else path, run=run, kind=kind)
        if run is None:  # an input: never attribute it to a run current in this process
            art._pending.use_current_run = False
        return art

    def _find_unhashed(self, inv: Invocation, paths: list[str]) -> None:
        """Without input hashing: the latest artifact with the file's key and size."""
        from flowlineage.models import Artifact

        by_key = {os.path.relpath(p, inv.workdir): p for p in paths}
        found = Artifact.filter(key__in=list(by_key), is_latest=True).order_by("-id").all()
        for art in found:
            path = by_key.get(art.key or "")
            if path is not None and path not in inv.artifact_ids and art.size == _size(path):
                inv.artifact_ids[path] = art.id


def _new_id() -> str:
    import uuid

    return str(uuid.uuid4())


def _heartbeat_seconds() -> float:
    from flowlineage.tracking import HEARTBEAT_SECONDS

    return HEARTBEAT_SECONDS


def _parent_from_env() -> Run | None:
    uid = os.environ.get("FLOWLINEAGE_PARENT_RUN")
    if not uid:
        return None
    from flowlineage.models import Run

    return Run.filter(uid=uid).first()


def _read_text(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return None


def _outputs_time(paths: list[str]) -> datetime:
    """When a job ended, seen from its outputs (newest mtime), else now."""
    times = [os.stat(p).st_mtime for p in paths if os.path.exists(p)]
    return datetime.fromtimestamp(max(times), UTC) if times else datetime.now(UTC)


def _size(path: str) -> int:
    if not os.path.isdir(path):
        return os.path.getsize(path)
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path)
               for f in files)


def _job_error_text(record: logging.LogRecord) -> str:
    text = f"Error in rule {getattr(record, 'rule_name', '?')}"
    cmd = getattr(record, "shellcmd", None)
    return f"{text}: shell command failed: {cmd}" if cmd else text

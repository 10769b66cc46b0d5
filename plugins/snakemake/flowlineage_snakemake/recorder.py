"""The writer side: messages about a Snakemake run in, runs, artifacts and links out.

``Recorder.handle`` only updates in-memory state. A flush writes what changed in a few
transactions: the job runs in one ``upsert_runs`` call, outputs and newly seen inputs with
one ``fl.save`` each, input links in one ``link_run_inputs`` call. Flushes happen every
``FLUSH_SECONDS`` on a background thread, at once when a job with ``temp()`` outputs
finished (Snakemake deletes those once consumed) or ``MAX_BUFFERED`` jobs wait, and at the
end, which is also where the invocation ends: Snakemake sends no "workflow finished" event,
its logger closes. Messages are described in ``flowlineage_snakemake.writer``.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from . import events
from .options import Options
from .redaction import Redactor

if TYPE_CHECKING:
    from flowlineage import Artifact, Run
    from flowlineage.adapters import Instance

logger = logging.getLogger("flowlineage.snakemake")

WORKFLOW_REFERENCE = "snakemake_workflow"
JOB_REFERENCE = "snakemake_job"
FLUSH_SECONDS = 1.0
MAX_BUFFERED = 500
PARALLEL_HASH_BYTES = 64 * 2**20  # below this, hashing threads cost more than they save
RUNNING = ("started", "restarted")
LOG_KIND, BENCHMARK_KIND = "log", "benchmark"
ENVIRONMENT_KIND, REPORT_KIND = "environment", "report"
LOG_TAIL_LINES = 30


@dataclass
class Job:
    """One Snakemake job as the messages have described it so far."""

    jobid: int
    rule: str
    inputs: list[str]
    outputs: list[str]
    logs: list[str]
    benchmarks: list[str]
    params: dict[str, Any]
    shellcmd: str | None
    started_at: datetime
    env: dict[str, Any] = field(default_factory=dict)
    status: str = "started"
    finished_at: datetime | None = None
    error: str | None = None
    attempt: int = 1
    run_id: int | None = None
    environment_id: int | None = None
    report_id: int | None = None
    described: bool = False  # environment recorded
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
    config: dict[str, Any] | None
    parent_uid: str | None
    run_id: int | None = None
    transform_id: int | None = None
    interrupted: bool = False
    failed: bool = False
    error: str | None = None
    pending_error: str | None = None  # an error message waiting for its job_error
    last_heartbeat: float = 0.0
    rule_files: dict[str, str | None] = field(default_factory=dict)
    rule_has_temp: dict[str, bool] = field(default_factory=dict)
    rule_transforms: dict[str, int] = field(default_factory=dict)
    jobs: dict[int, Job] = field(default_factory=dict)
    producers: dict[str, Job] = field(default_factory=dict)  # output path -> job
    artifact_ids: dict[str, int] = field(default_factory=dict)  # path -> artifact id
    dirty: set[int] = field(default_factory=set)  # run row to (re)write
    unsaved: set[int] = field(default_factory=set)  # ended, outputs not saved yet
    unlinked: set[int] = field(default_factory=set)  # inputs not linked yet
    urgent: bool = False
    redactor: Redactor = field(default_factory=Redactor)


class Recorder:
    """Records the runs described by one Snakemake process's messages."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self._lock = threading.RLock()
        self._inv: Invocation | None = None
        self._inst: Instance | None = None
        self._stop = threading.Event()
        self._flusher: threading.Thread | None = None
        self._clean_end = False
        self._warned: set[str] = set()

    def _warn(self, what: str, error: Exception) -> None:
        """Log a problem once (a failing database would otherwise repeat it every flush)."""
        text = f"flowlineage: {what}: {type(error).__name__}: {error}"
        if text not in self._warned:
            self._warned.add(text)
            logger.warning(text)

    # ------------------------------------------------------------------ messages

    def handle(self, msg: dict[str, Any]) -> None:
        """Take one message into account (never raises)."""
        try:
            with self._lock:
                self._handle(msg)
        except Exception as e:  # a broken message must not stop the recording
            self._warn(f"could not record Snakemake event {msg.get('t')}", e)

    def close(self) -> None:
        """End the open invocation: settle its jobs, write everything, record its status.

        Without a preceding ``end`` message Snakemake died: the run is recorded aborted.
        """
        self._stop.set()
        if self._flusher is not None:
            self._flusher.join(timeout=60)
        with self._lock:
            inv = self._inv
            if inv is None:
                return
            if not self._clean_end:
                inv.interrupted = True
            try:
                self._end_invocation(inv)
            except Exception as e:
                self._warn("could not record the Snakemake run", e)
            self._inv = None

    def _handle(self, msg: dict[str, Any]) -> None:
        kind = msg.get("t")
        if kind == "begin":
            self._begin(msg)
            return
        if kind == "end":
            self._clean_end = True
            return
        inv = self._inv
        if inv is None:
            return
        if kind == "rule":
            inv.rule_files[msg["name"]] = msg.get("file")
            inv.rule_has_temp[msg["name"]] = bool(msg.get("temp"))
        elif kind == "job":
            self._job(inv, msg)
        elif kind == "done":
            job = inv.jobs.get(msg.get("id", -1))
            if job is not None and job.status in RUNNING:
                self._complete(inv, job, _time(msg["at"]))
        elif kind == "failed":
            self._failed(inv, msg)
        elif kind == "error":
            self._error(inv, msg)
        elif kind == "interrupted":
            inv.interrupted = True
        if inv.urgent or len(inv.dirty) >= MAX_BUFFERED:
            self._flush(inv)

    def _begin(self, msg: dict[str, Any]) -> None:
        if self._inv is not None:  # a second workflow run through the same API
            self._end_invocation(self._inv)
        workdir = str(msg["workdir"])
        snakefile = str(msg["snakefile"])
        rel = os.path.relpath(snakefile, workdir)
        redactor = Redactor()
        config = redactor.params(msg.get("config"))  # first: its secrets hide the rest
        self._inv = Invocation(
            workflow_id=str(msg.get("workflow_id") or _new_id()),
            workdir=workdir,
            snakefile=snakefile,
            snakefile_key=f"snakemake:{snakefile if rel.startswith('..') else rel}",
            cli_args=redactor.cli_args(msg.get("cli_args")),
            user=msg.get("user"),
            started_at=_time(msg["at"]),
            config=config,
            parent_uid=msg.get("parent"),
            redactor=redactor,
        )
        self._clean_end = False
        if self._flusher is None:
            self._flusher = threading.Thread(target=self._flush_loop, daemon=True,
                                             name="flowlineage-snakemake")
            self._flusher.start()

    def _job(self, inv: Invocation, msg: dict[str, Any]) -> None:
        jobid = int(msg["id"])
        job = inv.jobs.get(jobid)
        if job is not None:  # Snakemake restarts a failed job (--retries)
            job.attempt += 1
            job.params["attempt"] = job.attempt
            job.status, job.error, job.finished_at = "restarted", None, None
            job.ended = False
            inv.dirty.add(jobid)
            return
        params = inv.redactor.params(msg["params"])
        job = Job(jobid=jobid, rule=str(msg["rule"]), inputs=msg["in"], outputs=msg["out"],
                  logs=msg["log"], benchmarks=msg["bench"], params=params,
                  shellcmd=inv.redactor.command(msg.get("cmd")), started_at=_time(msg["at"]),
                  env=msg.get("env") or {})
        inv.jobs[jobid] = job
        for path in job.outputs:
            inv.producers[path] = job
        for path in job.inputs:  # a job starts only once its producers are done: this
            producer = inv.producers.get(path)  # settles them when -q hid job_finished
            if producer is not None and producer.status in RUNNING:
                self._complete(inv, producer, None)
        inv.dirty.add(jobid)
        inv.unlinked.add(jobid)

    def _failed(self, inv: Invocation, msg: dict[str, Any]) -> None:
        job = inv.jobs.get(msg.get("id", -1))
        if job is None:
            return
        message = (inv.pending_error or job.error
                   or inv.redactor.text(_job_error_text(msg)) or "")
        inv.pending_error = None
        aborted = inv.interrupted or events.killed_by_user(message)
        self._end_job(inv, job, "aborted" if aborted else "errored", _time(msg["at"]), message)

    def _error(self, inv: Invocation, msg: dict[str, Any]) -> None:
        """An error message: about a job (it names the job, or a job_error follows) or not."""
        if msg.get("exception") == "KeyboardInterrupt":
            return
        text = inv.redactor.text(str(msg.get("text"))) or ""
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

    def _complete(self, inv: Invocation, job: Job, when: datetime | None) -> None:
        self._end_job(inv, job, "completed", when or _outputs_time(job.outputs), None)
        if inv.rule_has_temp.get(job.rule):
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
                if inv is None or self._stop.is_set():
                    continue
                try:
                    self._flush(inv)
                except Exception as e:  # retried at the next flush
                    self._warn("could not record Snakemake jobs yet", e)

    def _end_invocation(self, inv: Invocation) -> None:
        from flowlineage import Run
        from flowlineage.adapters import hook, notify

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
        notify(hook().flowlineage_run_finished, run=Run.get(run_id))

    def _flush(self, inv: Invocation) -> None:
        """Write what changed since the last flush (a few transactions)."""
        from flowlineage import Run
        from flowlineage.adapters import hook, notify, upsert_runs

        inv.urgent = False
        if inv.run_id is None:
            notify(hook().flowlineage_run_started,
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
        # in the order the jobs ended: a copy saved in the same batch as its source must not
        # become the artifact's creator
        unsaved = sorted((inv.jobs[i] for i in inv.unsaved),
                         key=lambda j: (j.finished_at or inv.started_at, j.jobid))
        unlinked = [inv.jobs[i] for i in sorted(inv.unlinked)]
        wanted = {j.run_id for j in dirty} | {j.run_id for j in unsaved} | {
            p.run_id for j in unlinked for p in (_producer(inv, i) for i in j.inputs) if p}
        runs = {r.id: r for r in Run.filter(id__in=wanted).all()} if wanted else {}
        for j in dirty:
            if not j.announced and j.run_id in runs:
                j.announced = True
                notify(hook().flowlineage_run_started, run=runs[j.run_id])
        # inputs first: an output with an input's bytes (a copy) is then that input's
        # artifact, recreated by the job, never an input the job made itself
        self._link_inputs(inv, unlinked, runs)
        self._save_outputs(inv, unsaved, runs)
        failed = [j for j in unsaved if j.status in ("errored", "aborted")]
        self._describe(inv, list({j.jobid: j for j in [*dirty, *failed]}.values()), runs, now)
        for j in dirty:
            if j.status not in RUNNING and not j.ended and j.run_id in runs:
                j.ended = True
                notify(hook().flowlineage_run_finished, run=runs[j.run_id])
        inv.dirty.clear()

    def _connect(self, inv: Invocation) -> Instance:
        """Connect (FLOWLINEAGE_DB / _STORAGE / _HOME, set by the Snakemake side)."""
        from flowlineage.adapters import ensure_connected, register_storage

        inst = self._inst = self._inst or ensure_connected()
        if self.options.register == "in-place":
            register_storage(inv.workdir, description="Snakemake working directory")
        return inst

    def _write_invocation(self, inv: Invocation, status: str,
                          finished_at: datetime | None) -> int:
        """Insert or update the invocation's run; return its id."""
        from flowlineage.adapters import get_or_create_transform, upsert_runs

        row: dict[str, Any] = {}
        if inv.run_id is None:
            self._connect(inv)
            source = _redact_source(_read_text(inv.snakefile))
            tf = get_or_create_transform(inv.snakefile_key, type="pipeline", source_code=source)
            inv.transform_id = tf.id
            parent = _parent(inv.parent_uid or os.environ.get("FLOWLINEAGE_PARENT_RUN"))
            row = {
                "params": inv.config,
                "cli_args": inv.cli_args,
                "created_by": inv.user,
                "initiated_by_run_id": parent,
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
        from flowlineage.adapters import get_or_create_transform

        path = inv.rule_files.get(rule)
        source = _redact_source(rule_block(_read_text(path) or "", rule)) if path else None
        tf = get_or_create_transform(f"{inv.snakefile_key}:{rule}", type="rule",
                                     source_code=source)
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
            **{k: v for k, v in (("environment_id", job.environment_id),
                                 ("report_id", job.report_id)) if v is not None},
        }

    def _save_outputs(self, inv: Invocation, jobs: list[Job], runs: dict[int, Run]) -> None:
        """Save outputs of completed jobs, and logs and benchmarks of every ended job."""
        items: list[tuple[str, str | None, Run | None]] = []
        for job in sorted(jobs, key=_started):
            run = runs.get(job.run_id) if job.run_id is not None else None
            files: list[tuple[str, str | None]] = (
                [(p, None) for p in job.outputs] if job.status == "completed" else [])
            files += [(p, LOG_KIND) for p in job.logs]
            files += [(p, BENCHMARK_KIND) for p in job.benchmarks]
            items += [(p, kind, run) for p, kind in files if os.path.exists(p)]
        self._save(inv, items)
        inv.unsaved.difference_update(j.jobid for j in jobs)

    def _describe(self, inv: Invocation, jobs: list[Job], runs: dict[int, Run],
                  now: datetime) -> None:
        """Record jobs' environments (the conda file as an artifact, image and modules as
        features) and failed jobs' reports (exit code and log tails, as an artifact)."""
        from flowlineage.adapters import set_run_features, upsert_runs

        env_files = {os.path.join(inv.workdir, j.env["conda"]) for j in jobs
                     if not j.described and j.env.get("conda")}
        self._save(inv, [(f, ENVIRONMENT_KIND, None) for f in sorted(env_files)
                         if f not in inv.artifact_ids and os.path.isfile(f)])
        features: dict[int, dict[str, Any]] = {}
        changed: list[Job] = []
        for job in jobs:
            if job.run_id is None:
                continue
            values = features.setdefault(job.run_id, {})
            if not job.described:
                job.described = True
                job.environment_id = inv.artifact_ids.get(
                    os.path.join(inv.workdir, job.env.get("conda", "")))
                values.update(environment_features(job.env, inv.workdir))
                if job.environment_id is not None:
                    changed.append(job)
            if job.status in ("errored", "aborted") and job.report_id is None:
                code = exit_code(job.error)
                if code is not None:
                    values["exit_code"] = code
                job.report_id = self._report(inv, job, code, _run_of(job, runs))
                changed.append(job)
        if changed:
            unique = {j.jobid: j for j in changed}.values()
            upsert_runs([self._job_row(inv, j, now) for j in unique])
        set_run_features({k: v for k, v in features.items() if v})

    def _report(self, inv: Invocation, job: Job, code: int | None,
                run: Run | None) -> int | None:
        """Save a failed job's report (name, exit code, error, log tails); its id."""
        import tempfile

        from flowlineage import Artifact

        text = failure_report(events.job_name(job.rule, job.params),
                              f"{inv.workflow_id}:{job.jobid}", code, job.error, job.logs)
        with tempfile.TemporaryDirectory(prefix="fl-smk-") as tmp:
            path = os.path.join(tmp, f"{job.rule}-{job.jobid}.report.txt")
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
            try:
                art = Artifact(path, kind=REPORT_KIND, run=run,
                               description=f"report of failed Snakemake job {job.jobid}").save()
            except Exception as e:
                self._warn(f"could not save the report of job {job.jobid}", e)
                return None
        return art.id

    def _link_inputs(self, inv: Invocation, jobs: list[Job], runs: dict[int, Run]) -> None:
        """Link job inputs, registering files not seen yet; outside ones feed the invocation.

        A new input another job of this run wrote (a file inside a checkpoint's
        ``directory()`` output, or an output not saved yet) is saved as that job's output.
        """
        from flowlineage.adapters import link_run_inputs

        producers = {p: _producer(inv, p) for j in jobs for p in j.inputs}
        new = [p for p in producers if p not in inv.artifact_ids and os.path.exists(p)]
        new.sort(key=lambda p: _started(producers[p]))  # the first writer of bytes owns them
        if not self.options.hash_inputs:  # outputs of this run's jobs are hashed anyway
            self._find_unhashed(inv, [p for p in new if producers[p] is None])
            new = [p for p in new if producers[p] is not None]
        self._save(inv, [(p, None, _run_of(producers[p], runs)) for p in new])
        pairs: list[tuple[int, int]] = []
        for job in jobs:
            for path in job.inputs:
                aid = inv.artifact_ids.get(path)
                if aid is None or job.run_id is None or inv.run_id is None:
                    continue
                pairs.append((job.run_id, aid))
                if producers[path] is None:
                    pairs.append((inv.run_id, aid))
        link_run_inputs(pairs)
        inv.unlinked.difference_update(j.jobid for j in jobs)

    def _save(self, inv: Invocation, items: list[tuple[str, str | None, Run | None]]) -> None:
        """Save files as artifacts in one batch (one by one if the batch fails)."""
        if not items:
            return
        from flowlineage import save

        saved: list[Artifact | None] = [self._artifact(inv, *item) for item in items]
        small = sum(_size(path) for path, _, _ in items) < PARALLEL_HASH_BYTES
        try:
            save([a for a in saved if a is not None], max_workers=1 if small else None)
        except Exception as e:
            self._warn("batch save failed; saving one by one", e)
            saved = [self._save_one(inv, *item) for item in items]
        for (path, _, _), art in zip(items, saved, strict=True):
            if art is not None and art.id is not None:
                inv.artifact_ids[path] = art.id

    def _save_one(self, inv: Invocation, path: str, kind: str | None,
                  run: Run | None) -> Artifact | None:
        try:
            return self._artifact(inv, path, kind, run).save()
        except Exception as e:
            self._warn(f"could not save {path}", e)
            return None

    def _artifact(self, inv: Invocation, path: str, kind: str | None,
                  run: Run | None) -> Artifact:
        """An unsaved artifact for a file; ``run=None``: created by no known run (this
        process tracks no run, so nothing current is attributed either)."""
        from flowlineage import Artifact

        rel = os.path.relpath(path, inv.workdir)
        inside = not rel.startswith("..")
        return Artifact(path, key=rel if inside else None,
                        description=None if inside else path, run=run, kind=kind)

    def _find_unhashed(self, inv: Invocation, paths: list[str]) -> None:
        """Without input hashing: the latest artifact with the file's key and size (its
        path is recorded as a place it was read from)."""
        from flowlineage import Artifact
        from flowlineage.adapters import record_locations

        by_key = {os.path.relpath(p, inv.workdir): p for p in paths}
        found = Artifact.filter(key__in=list(by_key), is_latest=True).order_by("-id").all()
        read = []
        for art in found:
            path = by_key.get(art.key or "")
            if path is not None and path not in inv.artifact_ids and art.size == _size(path):
                inv.artifact_ids[path] = art.id
                read.append({"artifact_id": art.id, "path": path, "run_id": None})
        record_locations(read)


def rule_block(text: str, rule: str) -> str | None:
    """The text of ``rule <name>:`` (or ``checkpoint``) up to the next top-level line."""
    header = re.compile(rf"^(?:rule|checkpoint)\s+{re.escape(rule)}\s*:", re.MULTILINE)
    match = header.search(text)
    if match is None:
        return None
    lines = text[match.start():].splitlines(keepends=True)
    end = len(lines)
    for i, line in enumerate(lines[1:], start=1):
        if line.strip() and not line[0].isspace() and not line.startswith("#"):
            end = i
            break
    return "".join(lines[:end]).rstrip() + "\n"


def environment_features(env: dict[str, Any], workdir: str) -> dict[str, Any]:
    """Run features of a job's declared environment (a conda file is also an artifact)."""
    values: dict[str, Any] = {}
    if env.get("container"):
        values["container_image"] = env["container"]
    if env.get("conda"):
        rel = os.path.relpath(os.path.join(workdir, env["conda"]), workdir)
        values["conda_env"] = env["conda"] if rel.startswith("..") else rel
    if env.get("envmodules"):
        values["envmodules"] = ",".join(env["envmodules"])
    return values


_EXIT = re.compile(r"(?:exit status|exit code|exited with code)[: ]+(-?\d+)")


def exit_code(error: str | None) -> int | None:
    """The exit code a job error message states (``... non-zero exit status 3.``)."""
    match = _EXIT.search(error or "")
    return int(match.group(1)) if match else None


def failure_report(name: str, reference: str, code: int | None, error: str | None,
                   logs: list[str]) -> str:
    """The text of a failed job's report: what failed, how, and the end of its logs."""
    lines = [f"job: {name} ({reference})", f"exit code: {'unknown' if code is None else code}",
             "", error or "(no error message)"]
    for path in logs:
        tail = _tail(path, LOG_TAIL_LINES)
        if tail is not None:
            lines += ["", f"--- last lines of {path} ---", tail.rstrip("\n")]
    return "\n".join(lines) + "\n"


def _tail(path: str, n: int) -> str | None:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - 64 * 1024))
            data = f.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    return "".join(data.splitlines(keepends=True)[-n:])


def _producer(inv: Invocation, path: str) -> Job | None:
    """The job of this run that wrote ``path``, itself or a folder holding it."""
    job = inv.producers.get(path)
    parent = os.path.dirname(path)
    while job is None and len(parent) > len(inv.workdir):
        job = inv.producers.get(parent)
        parent = os.path.dirname(parent)
    return job


def _started(job: Job | None) -> datetime:
    return datetime.min.replace(tzinfo=UTC) if job is None else job.started_at


def _run_of(job: Job | None, runs: dict[int, Run]) -> Run | None:
    return runs.get(job.run_id) if job is not None and job.run_id is not None else None


def _new_id() -> str:
    import uuid

    return str(uuid.uuid4())


def _time(timestamp: float) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def _heartbeat_seconds() -> float:
    from flowlineage.adapters import HEARTBEAT_SECONDS

    return HEARTBEAT_SECONDS


def _parent(uid: str | None) -> int | None:
    """The id of the run with this uid (the run that started Snakemake), if recorded."""
    if not uid:
        return None
    from flowlineage import Run

    run = Run.filter(uid=uid).first()
    return None if run is None else run.id


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


def _redact_source(text: str | None) -> str | None:
    """Source code with ``Authorization:`` headers and URL passwords hidden."""
    from flowlineage.adapters import redact_text

    return None if text is None else redact_text(text)


def _job_error_text(msg: dict[str, Any]) -> str:
    text = f"Error in rule {msg.get('rule') or '?'}"
    cmd = msg.get("cmd")
    return f"{text}: shell command failed: {cmd}" if cmd else text

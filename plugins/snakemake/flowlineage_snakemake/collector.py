"""The Snakemake side of the adapter: log records in, messages to the writer process out.

Snakemake calls its logger on a listener thread of its own process, next to the scheduler's
main thread. Database work there (SQLAlchemy, hashing, Python-level bookkeeping) would
compete with the scheduler for the GIL, so this side only turns each record into a small
JSON message and pipes it to a writer process (``python -m flowlineage_snakemake.writer``)
that does the recording. The writer starts when the workflow starts (its imports overlap
Snakemake's DAG building); Snakemake waits for it when it closes the logger.

A run is announced to the writer (``begin``) only once it is known to execute jobs: dry
runs and ``--touch`` runs record nothing. Nothing here imports SQLAlchemy or Snakemake.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from typing import IO, Any

from . import events, introspect
from .options import Options

logger = logging.getLogger("flowlineage.snakemake")


@dataclass
class _Invocation:
    workflow_id: str
    snakefile: str
    begin: dict[str, Any]
    confirmed: bool = False  # known to execute jobs; the writer has been told
    backlog: list[dict[str, Any]] = field(default_factory=list)  # messages before that
    rules: set[str] = field(default_factory=set)


class Collector:
    """Feeds one writer process with the runs of one Snakemake logger."""

    def __init__(self, options: Options, dryrun: bool = False,
                 parent_uid: str | None = None) -> None:
        self.options = options
        self.dryrun = dryrun
        self.parent_uid = parent_uid
        self._inv: _Invocation | None = None
        self._writer: subprocess.Popen[bytes] | None = None
        self._pipe: IO[bytes] | None = None
        self._lock = threading.Lock()
        self._closed = False

    def handle(self, record: logging.LogRecord) -> None:
        """Take one Snakemake log record into account (never raises)."""
        if self.dryrun:
            return
        try:
            with self._lock:
                self._handle(record)
        except Exception as e:  # a logger must never break the workflow
            logger.warning("flowlineage: could not record Snakemake event: %s: %s",
                           type(e).__name__, e)

    def close(self) -> None:
        """Announce a run that executed no job (if real), then wait for the writer."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._inv is not None and not self._inv.confirmed:
                self._confirm(self._inv)
            if self._writer is None:
                return
            self._send({"t": "end"})
            if self._pipe is not None:
                try:
                    self._pipe.close()
                except OSError:
                    pass
            code = self._writer.wait()
        if code != 0:
            logger.warning("flowlineage: the lineage writer process failed (exit code %s)", code)

    # ------------------------------------------------------------------ events

    def _handle(self, record: logging.LogRecord) -> None:
        event = events.event_of(record)
        if event == events.WORKFLOW_STARTED:
            self._workflow_started(record)
            return
        inv = self._inv
        if inv is None:
            return
        if events.is_interruption(record, event):
            self._emit(inv, {"t": "interrupted"})
        if event == events.JOB_INFO:
            if not inv.confirmed and not self._confirm(inv):
                return
            self._job_info(inv, record)
        elif event == events.JOB_FINISHED:
            self._emit(inv, {"t": "done", "id": getattr(record, "job_id", None),
                             "at": record.created})
        elif event == events.JOB_ERROR:
            self._emit(inv, {"t": "failed", "id": getattr(record, "jobid", None),
                             "at": record.created, "rule": getattr(record, "rule_name", None),
                             "cmd": getattr(record, "shellcmd", None)})
        elif event == events.ERROR:
            self._emit(inv, {"t": "error", "text": events.message_of(record),
                             "exception": getattr(record, "exception", None)})

    def _workflow_started(self, record: logging.LogRecord) -> None:
        if self._inv is not None and not self._inv.confirmed:
            self._confirm(self._inv)  # a second workflow run through the same API
        snakefile = os.path.abspath(str(getattr(record, "snakefile_main", "Snakefile")))
        workflow_id = str(getattr(record, "workflow_id", ""))
        self._inv = _Invocation(workflow_id=workflow_id, snakefile=snakefile, begin={
            "t": "begin", "workflow_id": workflow_id, "workdir": os.getcwd(),
            "snakefile": snakefile, "cli_args": getattr(record, "cmd", None),
            "user": getattr(record, "user", None), "at": record.created,
            "parent": self.parent_uid,
        })
        if self._writer is None:
            self._start_writer()

    def _confirm(self, inv: _Invocation) -> bool:
        """Tell the writer about the run if it really executes jobs; else forget it."""
        workflow = introspect.current_workflow(inv.snakefile)
        if introspect.executes_nothing(workflow):
            self._inv = None
            return False
        inv.confirmed = True
        self._send({**inv.begin, "config": introspect.config_of(workflow)})
        for message in inv.backlog:
            self._send(message)
        inv.backlog.clear()
        return True

    def _job_info(self, inv: _Invocation, record: logging.LogRecord) -> None:
        rule = str(getattr(record, "rule_name", "unknown"))
        if rule not in inv.rules:
            inv.rules.add(rule)
            workflow = introspect.current_workflow(inv.snakefile)
            self._send({"t": "rule", "name": rule,
                        "file": introspect.rule_file(workflow, rule),
                        "temp": introspect.rule_has_temp_output(workflow, rule)})
        wd = inv.begin["workdir"]
        benchmark = getattr(record, "benchmark", None)
        params = events.job_params(record)
        rule_params = getattr(record, "flowlineage_params", None)  # introspect.JobAnnotator
        if rule_params is not None:
            params["params"] = rule_params
        self._send({
            "t": "job", "id": getattr(record, "jobid", None), "rule": rule,
            "at": record.created,
            "in": events.local_paths(getattr(record, "input", None), wd),
            "out": events.local_paths(getattr(record, "output", None), wd),
            "log": events.local_paths(getattr(record, "log", None), wd),
            "bench": events.local_paths([benchmark] if benchmark else [], wd),
            "params": params, "env": getattr(record, "flowlineage_env", None) or {},
            "cmd": getattr(record, "shellcmd", None),
        })

    def _emit(self, inv: _Invocation, message: dict[str, Any]) -> None:
        if inv.confirmed:
            self._send(message)
        else:
            inv.backlog.append(message)

    # ------------------------------------------------------------------ writer process

    def _start_writer(self) -> None:
        env = os.environ.copy()
        launcher = env.pop("FLOWLINEAGE_RUN", None)  # a tracked script that ran Snakemake:
        if launcher:  # it initiates the workflow run; the writer's saves are not its outputs
            env.setdefault("FLOWLINEAGE_PARENT_RUN", launcher)
        db, storage = self._connection()
        if db is not None:
            env["FLOWLINEAGE_DB"] = db  # the environment, not argv: URLs may hold passwords
        if storage is not None:
            env["FLOWLINEAGE_STORAGE"] = storage
        cmd = [sys.executable, "-m", "flowlineage_snakemake.writer",
               "--register", self.options.register]
        if not self.options.hash_inputs:
            cmd.append("--no-hash-inputs")
        # own session: a Ctrl-C in the terminal reaches Snakemake, not the writer, which
        # keeps recording until Snakemake closes the pipe (or dies, closing it too)
        self._writer = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                        env=env, start_new_session=True)
        self._pipe = self._writer.stdin

    def _connection(self) -> tuple[str | None, str | None]:
        """Database URL and storage root: the settings, else this process's instance."""
        db, storage = self.options.db, self.options.storage
        instance_module = sys.modules.get("flowlineage.db.engine")
        if db is not None or instance_module is None:
            return db, storage
        from flowlineage.errors import NotConnected

        try:
            settings = instance_module.get_instance().settings
        except NotConnected:
            return db, storage
        return settings.db_url, storage or settings.storage_root

    def _send(self, message: dict[str, Any]) -> None:
        if self._pipe is None:
            return
        try:
            self._pipe.write(json.dumps(message, default=str).encode() + b"\n")
            self._pipe.flush()
        except (BrokenPipeError, ValueError):
            logger.warning("flowlineage: the lineage writer process is gone; recording stops")
            self._pipe = None


def current_run_uid() -> str | None:
    """The uid of the run current in this thread, if this process tracks one.

    ``current_run`` loads no database layer: Snakemake need not load SQLAlchemy to find out.
    """
    from flowlineage.adapters import current_run

    run = current_run()
    return None if run is None else str(run.uid)

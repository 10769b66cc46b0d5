"""What log records do not carry, read from the running Snakemake ``Workflow`` in-process.

A logger plugin runs inside the Snakemake process, where ``snakemake.workflow.workflow`` is
the workflow being executed. From it come the config (the invocation's params), whether
this is a dry or touch run, which rules have ``temp()`` outputs, and the file that defines
each rule. Every accessor degrades to "unknown" when the object or attribute is missing, so
a Snakemake change costs detail, never the run. Nothing here imports Snakemake.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

from .events import JOB_INFO, json_safe


def current_workflow(snakefile: str | None = None) -> Any | None:
    """The ``Workflow`` Snakemake is executing (its main Snakefile must match, when given)."""
    module = sys.modules.get("snakemake.workflow")
    workflow = getattr(module, "workflow", None)
    if workflow is None or snakefile is None:
        return workflow
    try:
        main = os.path.abspath(str(workflow.main_snakefile))
    except Exception:
        return None
    return workflow if main == os.path.abspath(snakefile) else None


def config_of(workflow: Any | None) -> dict[str, Any] | None:
    """The workflow's config (config files plus ``--config`` overrides) as JSON data."""
    config = getattr(workflow, "config", None) if workflow is not None else None
    return json_safe(dict(config)) if isinstance(config, dict) else None


def executes_nothing(workflow: Any | None) -> bool:
    """Whether the workflow only pretends to run jobs (dry run or ``--touch``)."""
    if workflow is None:
        return False
    try:
        return bool(workflow.dryrun) or bool(workflow.touch)
    except Exception:
        return False


def rule_has_temp_output(workflow: Any | None, rule: str) -> bool:
    """Whether a rule marks an output ``temp()`` (Snakemake deletes it once consumed)."""
    found = _rule(workflow, rule)
    outputs = getattr(found, "output", None) or []
    return any("temp" in (getattr(f, "flags", None) or {}) for f in outputs)


def rule_file(workflow: Any | None, rule: str) -> str | None:
    """The local file that defines a rule (the main Snakefile or an included one)."""
    path = getattr(_rule(workflow, rule), "snakefile", None)
    return str(path) if path is not None and os.path.isfile(str(path)) else None


def _rule(workflow: Any | None, rule: str) -> Any | None:
    if workflow is None:
        return None
    try:
        return workflow.get_rule(rule)
    except Exception:
        return None


class JobLookup:
    """Snakemake's job objects by job id, for what ``job_info`` records leave out.

    The DAG maps job → id; the reverse map is rebuilt only when an id is not in it yet
    (new jobs appear after a checkpoint), so a workflow of n jobs costs O(n) lookups.
    """

    def __init__(self) -> None:
        self._by_id: dict[int, Any] = {}

    def get(self, workflow: Any | None, jobid: int) -> Any | None:
        """The job with this id, or None when the DAG cannot be read."""
        if jobid not in self._by_id:
            try:
                ids = dict(workflow.dag._jobid)  # type: ignore[union-attr]
            except Exception:  # no workflow, or another layout
                return None
            self._by_id = {i: job for job, i in ids.items()}
        return self._by_id.get(jobid)


class JobAnnotator(logging.Filter):
    """Adds a job's ``params:`` and environment to its ``job_info`` record.

    A filter of Snakemake's logger runs on the thread that logs, while the job and the
    workflow are alive; the logger plugin reads records later, on a listener thread, by
    when a short workflow may be gone. Never rejects a record.
    """

    def __init__(self) -> None:
        super().__init__()
        self._jobs = JobLookup()

    def filter(self, record: logging.LogRecord) -> bool:
        jobid = getattr(record, "jobid", None)
        if str(getattr(record, "event", "")) != JOB_INFO or not isinstance(jobid, int):
            return True
        job = self._jobs.get(current_workflow(), jobid)
        record.flowlineage_params = job_params(job)
        record.flowlineage_env = job_environment(job)
        return True


def job_params(job: Any | None) -> dict[str, Any] | None:
    """A job's ``params:`` as JSON data (named ones by name, others under ``_positional``)."""
    if job is None:
        return None
    try:
        params = job.params
        named: dict[str, tuple[int, int | None]] = dict(params._names)
        taken = {i for pos, end in named.values() for i in range(pos, end or pos + 1)}
        values = {name: params[pos] if end is None else params[pos:end]
                  for name, (pos, end) in named.items()}
        positional = [v for i, v in enumerate(params) if i not in taken]
        if positional:
            values["_positional"] = positional
        return json_safe(values) if values else None
    except Exception:
        return None


def job_environment(job: Any | None) -> dict[str, Any]:
    """The software environment a job declares: ``conda`` (an environment file's path,
    else the env name or folder), ``container`` (image URL), ``envmodules`` (names)."""
    env: dict[str, Any] = {}
    if job is None:
        return env
    try:
        spec = job.conda_env_spec
        if spec:
            source = getattr(spec, "file", None)
            path = source.get_path_or_uri(secret_free=True) if source is not None else None
            env["conda"] = str(path or getattr(spec, "name", None) or getattr(spec, "path", spec))
        if job.container_img_url:
            env["container"] = str(job.container_img_url)
        modules = getattr(job.env_modules, "names", None)
        if modules:
            env["envmodules"] = [str(m) for m in modules]
    except Exception:
        pass
    return env

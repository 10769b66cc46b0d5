"""Prefect flow and task runs recorded as flowlineage Runs (this module imports prefect).

``tracked(obj)`` returns a copy of a Prefect ``Flow`` or ``Task`` whose function is wrapped
and which carries one more state hook, named ``flowlineage``:

* the wrapper runs inside Prefect's run context (``FlowRunContext`` / ``TaskRunContext``).
  It records the Run (reference = the Prefect run id, name, JSON-safe parameters,
  transform, ``initiated_by_run``, result edges to the task runs whose results it was
  passed), makes it the current run while the function runs (a context variable, so each
  thread-pool or async task run has its own), links path and Artifact parameters as
  inputs and saves path and Artifact return values (and path parameters the run created)
  as outputs, and Prefect assets as artifacts where they name files;
* the hook (``on_completion`` / ``on_failure``, plus ``on_crashed`` / ``on_cancellation``
  for flows) records the final status at Prefect's state timestamp, the attempts of a
  retried run and the error of a failed one. A ``Cached`` task run, whose function does
  not run, gets its Run there, with its inputs and its outputs linked as recreated.

``enable()`` tracks every flow and task created afterwards (Prefect's plugin entry point
calls it at ``import prefect`` when ``PREFECT_PLUGINS_ENABLED`` is set).
"""

from __future__ import annotations

import atexit
import functools
import getpass
import inspect
import logging
import os
import tempfile
import threading
import traceback
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar, overload

import prefect
from flowlineage import Artifact, Run
from flowlineage.adapters import (
    Instance,
    end_run,
    ensure_connected,
    get_current_run,
    get_instance,
    get_or_create_transform,
    hook,
    link_recreated,
    link_run_results,
    notify,
    reset_current_run,
    set_current_run,
    set_run_features,
    upsert_runs,
    utcnow,
)
from flowlineage.errors import NotConnected, ValidationError
from prefect import Flow, Task
from prefect._internal.result_records import ResultRecord
from prefect.client.schemas.objects import (
    FlowRun,
    FlowRunResult,
    State,
    TaskRun,
    TaskRunResult,
)
from prefect.context import FlowRunContext, TaskRunContext
from sqlalchemy.exc import IntegrityError

from ._assets import record_assets
from ._values import (
    STR_DEPTH,
    existing_artifact,
    find_data,
    json_safe,
    link_input_data,
    save_output_data,
)
from .hooks import FLOW_RUN, TASK_RUN

P = ParamSpec("P")
R = TypeVar("R")
FlowOrTask = TypeVar("FlowOrTask", bound="Flow[Any, Any] | Task[Any, Any]")
PrefectRun = FlowRun | TaskRun

_MARK = "__flowlineage_tracker__"
_enclosing: ContextVar[Run | None] = ContextVar("flowlineage_prefect_run", default=None)
"""The Run of the tracked flow or task whose function is running in this context."""
_workdir: ContextVar[str | None] = ContextVar("flowlineage_prefect_workdir", default=None)
"""The working directory of the outermost tracked flow run in this context."""
_active: dict[str, Run] = {}
"""Runs by Prefect run id, from the function's start until the hook records the end."""
_failures: dict[str, list[_Failure]] = {}
"""The failed attempts of Prefect runs whose end is not recorded yet, by Prefect run id."""
_run_ids: weakref.WeakKeyDictionary[Instance, dict[str, int]] = weakref.WeakKeyDictionary()
"""Run ids of the task runs recorded in this process, by Prefect run id (result edges)."""
MAX_REMEMBERED = 100_000
NOT_DATA = frozenset({"wait_for", "__parents__"})
"""``task_inputs`` keys naming ordering or nesting, not results the task run used."""
Features = dict[str, Any]


@dataclass(frozen=True)
class _Failure:
    """How one attempt of a Prefect run failed."""

    type: str
    message: str
    report: str  # the traceback (or Prefect's state message)

    @property
    def summary(self) -> str:
        return f"{self.type}: {self.message}" if self.message else self.type

    @classmethod
    def of(cls, exc: BaseException) -> _Failure:
        return cls(type(exc).__name__, str(exc), "".join(traceback.format_exception(exc)))


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:
        return None


_USER = _user()


def tracked(obj: FlowOrTask) -> FlowOrTask:
    """A copy of a Prefect flow or task whose runs are recorded as flowlineage Runs.

    Use as ``@tracked`` above ``@flow(...)`` / ``@task(...)``, or ``tracked(existing)``.
    Tracking an already tracked object returns it unchanged. Generator flows and tasks are
    not supported.
    """
    if not isinstance(obj, Flow | Task):
        raise ValidationError(
            f"tracked() takes a Prefect Flow or Task, not {type(obj).__name__}: "
            "put @tracked above @flow or @task"
        )
    if hasattr(obj.fn, _MARK):
        return obj
    fn = obj.fn
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise ValidationError(f"{obj.name}: generator flows and tasks cannot be tracked")
    new: Any = obj.with_options()  # tracked in place already when enable() is on
    _track_in_place(new)
    return new  # type: ignore[no-any-return]


def _track_in_place(obj: Flow[Any, Any] | Task[Any, Any]) -> None:
    """Wrap the function of ``obj`` and add the ``flowlineage`` state hook (once)."""
    fn = obj.fn
    if hasattr(fn, _MARK) or inspect.isgeneratorfunction(fn) \
            or inspect.isasyncgenfunction(fn):
        return
    _quiet_hook_logs()
    tracker = _Tracker(fn, "flow" if isinstance(obj, Flow) else "task")
    hook = _StateHook(tracker)
    obj.on_completion_hooks = [*obj.on_completion_hooks, hook]
    obj.on_failure_hooks = [*obj.on_failure_hooks, hook]
    if isinstance(obj, Flow):
        obj.on_crashed_hooks = [*obj.on_crashed_hooks, hook]
        obj.on_cancellation_hooks = [*obj.on_cancellation_hooks, hook]
    obj.fn = tracker.wrap()


_originals: dict[type[Any], Callable[..., None]] = {}


def enable() -> None:
    """Track every Prefect flow and task created from now on, plain ``@flow`` / ``@task``
    included (calling it again does nothing; ``disable()`` undoes it)."""
    for cls in (Flow, Task):
        if cls in _originals:
            continue
        original = _originals[cls] = cls.__init__

        @functools.wraps(original)
        def init(self: Any, *args: Any, __original: Callable[..., None] = original,
                 **kwargs: Any) -> None:
            __original(self, *args, **kwargs)
            _track_in_place(self)

        cls.__init__ = init  # type: ignore[method-assign]


def disable() -> None:
    """Stop tracking new flows and tasks (those created meanwhile stay tracked)."""
    for cls, original in list(_originals.items()):
        cls.__init__ = original
        del _originals[cls]


@overload
def flow(__fn: Callable[P, R], /) -> Flow[P, R]: ...


@overload
def flow(__fn: None = None, /, **kwargs: Any) -> Callable[[Callable[P, R]], Flow[P, R]]: ...


def flow(
    __fn: Callable[P, R] | None = None, /, **kwargs: Any
) -> Flow[P, R] | Callable[[Callable[P, R]], Flow[P, R]]:
    """Prefect's ``@flow`` (same keywords) whose runs are tracked."""
    if __fn is not None:
        return tracked(prefect.flow(__fn, **kwargs))

    def decorate(fn: Callable[P, R]) -> Flow[P, R]:
        return tracked(prefect.flow(fn, **kwargs))

    return decorate


@overload
def task(__fn: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(__fn: None = None, /, **kwargs: Any) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(
    __fn: Callable[P, R] | None = None, /, **kwargs: Any
) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
    """Prefect's ``@task`` (same keywords) whose runs are tracked."""
    if __fn is not None:
        return tracked(prefect.task(__fn, **kwargs))

    def decorate(fn: Callable[P, R]) -> Task[P, R]:
        return tracked(prefect.task(fn, **kwargs))

    return decorate


class _Started:
    """A Run whose function is about to run, with the parameters it was called with."""

    def __init__(self, run: Run, parameters: dict[str, Any], keep_existing: bool,
                 workdir: str) -> None:
        self.run = run
        self.parameters = parameters
        self.keep_existing = keep_existing
        self.workdir = workdir
        self.input_paths: set[Path] = set()
        self.missing: list[Path] = []  # path parameters not there yet: outputs if written

    def link_inputs(self) -> None:
        paths, artifacts = find_data(self.parameters, STR_DEPTH + 1)  # dict of parameters
        for path in paths:
            if path.exists():
                self.input_paths.add(path)
            else:
                self.missing.append(path)
        if self.input_paths or artifacts:
            link_input_data(self.run, list(self.input_paths), artifacts, self.workdir)

    def save_outputs(self, result: Any) -> None:
        paths, artifacts = find_data(result)
        paths += [p for p in self.missing if p not in paths]
        if paths or artifacts:
            save_output_data(self.run, paths, artifacts, self.input_paths, self.keep_existing,
                             self.workdir)
        if self.run.reference_type == TASK_RUN:
            record_assets(self.run, self.run.reference, self.workdir)


class _Tracker:
    """What the runs of one tracked flow or task function share: its kind and transforms."""

    def __init__(self, fn: Callable[..., Any], kind: Literal["flow", "task"]) -> None:
        self.fn = fn
        self.kind = kind
        self.reference_type = FLOW_RUN if kind == "flow" else TASK_RUN
        self.key = f"prefect:{fn.__module__}.{fn.__qualname__}"
        self._source: list[str | None] = []
        self._transforms: weakref.WeakKeyDictionary[Instance, dict[str | None, int]] = (
            weakref.WeakKeyDictionary()
        )

    # ------------------------------------------------------------ the wrapped function

    def wrap(self) -> Callable[..., Any]:
        """The function Prefect calls instead of the user's: same signature and source."""
        fn = self.fn
        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def wrapper_async(*args: Any, **kwargs: Any) -> Any:
                started = self.begin(wrapper_async)
                if started is None:
                    return await fn(*args, **kwargs)
                with _current(started):
                    started.link_inputs()
                    try:
                        result = await fn(*args, **kwargs)
                    except BaseException as exc:
                        self.failed(started.run, exc)
                        raise
                    started.save_outputs(result)
                    return result

            wrapper: Callable[..., Any] = wrapper_async
        else:

            @functools.wraps(fn)
            def wrapper_sync(*args: Any, **kwargs: Any) -> Any:
                started = self.begin(wrapper_sync)
                if started is None:
                    return fn(*args, **kwargs)
                with _current(started):
                    started.link_inputs()
                    try:
                        result = fn(*args, **kwargs)
                    except BaseException as exc:
                        self.failed(started.run, exc)
                        raise
                    started.save_outputs(result)
                    return result

            wrapper = wrapper_sync
        setattr(wrapper, _MARK, self)
        return wrapper

    def begin(self, wrapper: Callable[..., Any]) -> _Started | None:
        """Record the start (or the retry) of the Prefect run calling ``wrapper``.

        None when ``wrapper`` runs outside its own Prefect run (e.g. ``my_task.fn(...)``).
        """
        obj: Flow[Any, Any] | Task[Any, Any]
        prun: PrefectRun
        parameters: dict[str, Any] | None
        if self.kind == "task":
            tctx = TaskRunContext.get()
            if tctx is None or tctx.task.fn is not wrapper:
                return None
            obj, prun, parameters = tctx.task, tctx.task_run, tctx.parameters
        else:
            fctx = FlowRunContext.get()
            if fctx is None or fctx.flow is None or fctx.flow.fn is not wrapper \
                    or fctx.flow_run is None:
                return None
            obj, prun, parameters = fctx.flow, fctx.flow_run, fctx.parameters
        status = "restarted" if prun.run_count > 1 else "started"
        run = _active.get(str(prun.id))
        if run is None:
            run = self.start_run(obj, prun, parameters, status)
            _active[str(prun.id)] = run
        elif run.status != status:
            run.status = status
            run.save()
        return _Started(run, parameters or {}, keep_existing=self.kind == "flow",
                        workdir=_workdir.get() or os.getcwd())

    def failed(self, run: Run, exc: BaseException) -> None:
        """Keep how an attempt failed; a task run stopped by a BaseException (Prefect
        calls no task hook then) ends aborted now."""
        ref = run.reference or ""
        _failures.setdefault(ref, []).append(_Failure.of(exc))
        if self.kind == "task" and not isinstance(exc, Exception):
            _active.pop(ref, None)
            features = _failure_features(run, ref, "aborted", 1)
            _write_ends([(run, "aborted", None, features)])

    # ------------------------------------------------------------ records

    def start_run(self, obj: Flow[Any, Any] | Task[Any, Any], prun: PrefectRun,
                  parameters: dict[str, Any] | None, status: str) -> Run:
        """Insert (or, for a Prefect run seen before, update) the Run of a Prefect run."""
        inst = ensure_connected()
        parent = _enclosing.get() or get_current_run() or _parent_from_env()
        fields: dict[str, Any] = {
            "reference_type": self.reference_type,
            "reference": str(prun.id),
            "transform_id": self.transform_id(inst, obj),
            "name": prun.name,
            "params": None if parameters is None else json_safe(dict(parameters)),
            "started_at": _utc(prun.start_time) or utcnow(),
            "initiated_by_run_id": None if parent is None else parent.id,
            "created_by": _USER,
            "status": status,
        }
        upstream = self.upstream_ids(inst, prun)
        ends = _pending_ends.take(inst)
        run = None
        if prun.run_count <= 1:  # a new Prefect run: a plain insert is the fast path
            try:
                with inst.write():  # one transaction: earlier runs' ends, then this start
                    _write_ends(ends)
                    run = Run(**fields).save()
                    link_run_results([(run.id, i) for i in upstream])
            except IntegrityError:  # recorded before, by another process: update it
                run = None
        if run is None:
            with inst.write():
                _write_ends(ends)
                ids = upsert_runs([fields])
                run = Run.get(ids[(self.reference_type, str(prun.id))])
                link_run_results([(run.id, i) for i in upstream])
        known = _run_ids.setdefault(inst, {})
        if len(known) >= MAX_REMEMBERED:
            known.clear()
        known[str(prun.id)] = run.id
        notify(hook().flowlineage_run_started, run=run)
        return run

    @staticmethod
    def upstream_ids(inst: Instance, prun: PrefectRun) -> list[int]:
        """The Run ids of the task and subflow runs whose results ``prun`` was passed
        (Prefect's ``task_inputs``), as far as they are recorded."""
        if not isinstance(prun, TaskRun):
            return []
        refs = {str(i.id) for name, inputs in prun.task_inputs.items() if name not in NOT_DATA
                for i in inputs if isinstance(i, TaskRunResult | FlowRunResult)}
        if not refs:
            return []
        known = _run_ids.get(inst, {})
        found = [known[r] for r in refs if r in known]
        missing = [r for r in refs if r not in known]
        if missing:
            found += [r.id for r in Run.filter(reference_type__in=[TASK_RUN, FLOW_RUN],
                                               reference__in=missing)]
        return found

    def transform_id(self, inst: Instance, obj: Flow[Any, Any] | Task[Any, Any]) -> int:
        """The id of the transform of ``obj`` in ``inst`` (looked up once per version)."""
        by_version = self._transforms.get(inst)
        if by_version is None:
            by_version = self._transforms.setdefault(inst, {})
        found = by_version.get(obj.version)
        if found is None:
            tf = get_or_create_transform(
                key=self.key, type=self.kind, source_code=self.source(),
                version=obj.version, description=obj.description,
            )
            found = by_version[obj.version] = tf.id
        return found

    def source(self) -> str | None:
        """The function's source code (read once)."""
        if not self._source:
            try:
                self._source.append(inspect.getsource(self.fn))
            except (OSError, TypeError):
                self._source.append(None)
        return self._source[0]

    # ------------------------------------------------------------ final states

    def finish(self, obj: Flow[Any, Any] | Task[Any, Any], prun: PrefectRun,
               state: State[Any]) -> None:
        """Record a final state; a run whose function did not run here gets its Run now."""
        ref = str(prun.id)
        run = _active.pop(ref, None)
        if run is None:  # a cached task, or a flow whose parameters failed validation
            run = self.start_run(obj, prun, self._parameters(prun), "started")
        status = _status(state)
        features = _failure_features(run, ref, status, prun.run_count, state)
        if state.name == "Cached":
            _Started(run, self._parameters(prun) or {}, keep_existing=False,
                     workdir=_workdir.get() or os.getcwd()).link_inputs()
            _link_cached_outputs(run, state)
            features["cached"] = True
        inst = ensure_connected()
        _pending_ends.add(inst, run, status, _utc(state.timestamp), features)
        if self.kind == "flow" or _enclosing.get() is None:
            _write_ends(_pending_ends.take(inst))  # the run's end, and its tasks' ends

    def _parameters(self, prun: PrefectRun) -> dict[str, Any] | None:
        if isinstance(prun, FlowRun):
            return prun.parameters
        tctx = TaskRunContext.get()
        return tctx.parameters if tctx is not None and tctx.task_run.id == prun.id else None


class _StateHook:
    """The Prefect state hook recording final states (``flowlineage`` in Prefect's logs)."""

    __name__ = "flowlineage"

    def __init__(self, tracker: _Tracker) -> None:
        self.tracker = tracker

    def __call__(self, flow: Any, flow_run: Any, state: State[Any]) -> None:
        """Called as ``(flow, flow_run, state)`` or ``(task, task_run, state)``."""
        self.tracker.finish(flow, flow_run, state)


class _HookLogFilter(logging.Filter):
    """Drop Prefect's two INFO lines per run about running the ``flowlineage`` hook.

    They would double the log records a task run sends to the Prefect API; a failing
    hook is still logged (at ERROR, by another message).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.msg
        return not (isinstance(message, str) and record.levelno == logging.INFO and (
            message.startswith("Running hook 'flowlineage' ")
            or message == "Hook 'flowlineage' finished running successfully"))


_HOOK_LOG_FILTER = _HookLogFilter()


def _quiet_hook_logs() -> None:
    for name in ("prefect.task_runs", "prefect.flow_runs", "prefect.engine"):
        logging.getLogger(name).addFilter(_HOOK_LOG_FILTER)  # adding twice is a no-op


End = tuple[Run, str, datetime | None, Features]
"""A run's final status, its time and the features recorded with it."""


class _PendingEnds:
    """Final states of runs not written yet.

    A task run's end is written in one transaction with the next run's start, or when its
    flow ends (or right away for a task outside a tracked flow, and at interpreter exit):
    a task run costs one write transaction instead of two.
    """

    def __init__(self) -> None:
        self._items: list[tuple[Instance, End]] = []
        self._lock = threading.Lock()
        atexit.register(self.write_all)

    def add(self, inst: Instance, run: Run, status: str, finished_at: datetime | None,
            features: Features) -> None:
        with self._lock:
            self._items.append((inst, (run, status, finished_at, features)))

    def take(self, inst: Instance) -> list[End]:
        """Remove and return the pending ends of ``inst`` (those of others are dropped)."""
        with self._lock:
            items, self._items = self._items, []
        return [end for owner, end in items if owner is inst]

    def write_all(self) -> None:
        """Write the pending ends of the connected instance, if any."""
        try:
            inst = get_instance()
        except NotConnected:
            return
        _write_ends(self.take(inst))


_pending_ends = _PendingEnds()


def _write_ends(ends: list[End]) -> None:
    """Record run ends and their features in one transaction (or in the caller's)."""
    if ends:
        with get_instance().write():
            set_run_features({run.id: features for run, _, _, features in ends if features})
            for run, status, finished_at, _ in ends:
                end_run(run, status, finished_at=finished_at)


@contextmanager
def _current(started: _Started) -> Iterator[None]:
    """Make the started run the current run and the enclosing Prefect run in this
    context, and its working directory the flow's."""
    enclosing = _enclosing.set(started.run)
    workdir = _workdir.set(started.workdir)
    current = set_current_run(started.run)
    try:
        yield
    finally:
        reset_current_run(current)
        _workdir.reset(workdir)
        _enclosing.reset(enclosing)


def _failure_features(run: Run, ref: str, status: str, run_count: int,
                      state: State[Any] | None = None) -> Features:
    """The attempts of a retried run, and the error of a failed one (its traceback saved
    as the run's report)."""
    failures = _failures.pop(ref, [])
    failure = failures[-1] if failures and status != "completed" else None
    if failure is None and status != "completed":  # failed before the function ran
        message = (state.message if state is not None else None) or ""
        name = (state.name if state is not None else None) or "Failed"
        failure = _Failure(name, message, message)
    features: Features = {}
    if run_count > 1:
        last = status if failure is None else f"{status}: {failure.summary}"
        features["attempts"] = run_count
        features["attempt_states"] = [
            *(f"errored: {f.summary}" for f in failures[: run_count - 1]), last]
    if failure is not None:
        features["error_type"], features["error"] = failure.type, failure.message
        _save_report(run, failure.report)
    return features


def _save_report(run: Run, text: str) -> None:
    """Save ``text`` (a traceback) as the run's report artifact (lamindb's ``run.report``)."""
    with tempfile.TemporaryDirectory(prefix="fl-report-") as tmp:
        path = Path(tmp, "report.txt")
        path.write_text(text)
        report = Artifact(path, key=f"prefect/reports/{run.uid}.txt", kind="report",
                          description=f"error report of run {run.uid}", run=False).save()
    run.report_id = report.id
    run.save()


def _link_cached_outputs(run: Run, state: State[Any]) -> None:
    """Link what a cached result refers to (saved artifacts, known files) as recreated."""
    data = state.data
    value = data.result if isinstance(data, ResultRecord) else data
    paths, artifacts = find_data(value)
    found = [a for a in artifacts if a.id is not None]
    found += [a for a in (existing_artifact(p) for p in paths if p.exists()) if a is not None]
    link_recreated([(run.id, a.id) for a in found if a.id is not None])


def _status(state: State[Any]) -> str:
    if state.is_completed():
        return "completed"
    if state.is_failed():
        return "errored"
    return "aborted"  # crashed, cancelling, cancelled


def _parent_from_env() -> Run | None:
    uid = os.environ.get("FLOWLINEAGE_PARENT_RUN")
    return Run.filter(uid=uid).first() if uid else None


def _utc(value: datetime | None) -> datetime | None:
    """A plain UTC datetime (Prefect's timestamps are pendulum datetimes)."""
    if value is None:
        return None
    v = value.astimezone(UTC)
    return datetime(v.year, v.month, v.day, v.hour, v.minute, v.second, v.microsecond,
                    tzinfo=UTC)

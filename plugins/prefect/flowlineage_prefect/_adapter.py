"""Prefect flow and task runs recorded as flowlineage Runs (this module imports prefect).

``tracked(obj)`` returns a copy of a Prefect ``Flow`` or ``Task`` whose function is wrapped
and which carries one more state hook, named ``flowlineage``:

* the wrapper runs inside Prefect's run context (``FlowRunContext`` / ``TaskRunContext``).
  It records the Run (reference = the Prefect run id, name, JSON-safe parameters,
  transform, ``initiated_by_run``), makes it the current run while the function runs (a
  context variable, so each thread-pool or async task run has its own), links Path and
  Artifact parameters as inputs and saves Path and Artifact return values as outputs;
* the hook (``on_completion`` / ``on_failure``, plus ``on_crashed`` / ``on_cancellation``
  for flows) records the final status at Prefect's state timestamp. A ``Cached`` task run,
  whose function does not run, gets its Run there, its outputs linked as recreated.
"""

from __future__ import annotations

import atexit
import functools
import getpass
import inspect
import logging
import os
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar, overload

import prefect
from flowlineage import Run
from flowlineage.adapters import (
    Instance,
    end_run,
    ensure_connected,
    get_current_run,
    get_instance,
    get_or_create_transform,
    hook,
    link_recreated,
    notify,
    reset_current_run,
    set_current_run,
    upsert_runs,
    utcnow,
)
from flowlineage.errors import NotConnected, ValidationError
from prefect import Flow, Task
from prefect._internal.result_records import ResultRecord
from prefect.client.schemas.objects import FlowRun, State, TaskRun
from prefect.context import FlowRunContext, TaskRunContext
from sqlalchemy.exc import IntegrityError

from ._values import existing_artifact, find_data, json_safe, link_input_data, save_output_data
from .hooks import FLOW_RUN, TASK_RUN

P = ParamSpec("P")
R = TypeVar("R")
FlowOrTask = TypeVar("FlowOrTask", bound="Flow[Any, Any] | Task[Any, Any]")
PrefectRun = FlowRun | TaskRun

_MARK = "__flowlineage_tracker__"
_enclosing: ContextVar[Run | None] = ContextVar("flowlineage_prefect_run", default=None)
"""The Run of the tracked flow or task whose function is running in this context."""
_active: dict[str, Run] = {}
"""Runs by Prefect run id, from the function's start until the hook records the end."""


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
    if isinstance(obj, Flow):
        kind: Literal["flow", "task"] = "flow"
    elif isinstance(obj, Task):
        kind = "task"
    else:
        raise ValidationError(
            f"tracked() takes a Prefect Flow or Task, not {type(obj).__name__}: "
            "put @tracked above @flow or @task"
        )
    fn = obj.fn
    if hasattr(fn, _MARK):
        return obj
    if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
        raise ValidationError(f"{obj.name}: generator flows and tasks cannot be tracked")
    _quiet_hook_logs()
    tracker = _Tracker(fn, kind)
    hook = _StateHook(tracker)
    if isinstance(obj, Flow):
        new: Any = obj.with_options(
            on_completion=[*obj.on_completion_hooks, hook],
            on_failure=[*obj.on_failure_hooks, hook],
            on_crashed=[*obj.on_crashed_hooks, hook],
            on_cancellation=[*obj.on_cancellation_hooks, hook],
        )
    else:
        new = obj.with_options(
            on_completion=[*obj.on_completion_hooks, hook],
            on_failure=[*obj.on_failure_hooks, hook],
        )
    new.fn = tracker.wrap()
    return new  # type: ignore[no-any-return]


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

    def __init__(self, run: Run, parameters: dict[str, Any], keep_existing: bool) -> None:
        self.run = run
        self.parameters = parameters
        self.keep_existing = keep_existing
        self.input_paths: set[Path] = set()

    def link_inputs(self) -> None:
        paths, artifacts = find_data(self.parameters)
        if paths or artifacts:
            self.input_paths = set(paths)
            link_input_data(self.run, paths, artifacts)

    def save_outputs(self, result: Any) -> None:
        paths, artifacts = find_data(result)
        if paths or artifacts:
            save_output_data(self.run, paths, artifacts, self.input_paths, self.keep_existing)


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
                with _current(started.run):
                    started.link_inputs()
                    try:
                        result = await fn(*args, **kwargs)
                    except BaseException as exc:
                        self.interrupted(started.run, exc)
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
                with _current(started.run):
                    started.link_inputs()
                    try:
                        result = fn(*args, **kwargs)
                    except BaseException as exc:
                        self.interrupted(started.run, exc)
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
        return _Started(run, parameters or {}, keep_existing=self.kind == "flow")

    def interrupted(self, run: Run, exc: BaseException) -> None:
        """A task run stopped by a BaseException (Prefect calls no task hook then): aborted."""
        if self.kind == "task" and not isinstance(exc, Exception):
            _active.pop(run.reference or "", None)
            end_run(run, "aborted")

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
        ends = _pending_ends.take(inst)
        run = None
        if prun.run_count <= 1:  # a new Prefect run: a plain insert is the fast path
            try:
                with inst.write():  # one transaction: earlier runs' ends, then this start
                    _write_ends(ends)
                    run = Run(**fields).save()
            except IntegrityError:  # recorded before, by another process: update it
                run = None
        if run is None:
            with inst.write():
                _write_ends(ends)
                ids = upsert_runs([fields])
                run = Run.get(ids[(self.reference_type, str(prun.id))])
        notify(hook().flowlineage_run_started, run=run)
        return run

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
        run = _active.pop(str(prun.id), None)
        if run is None:  # a cached task, or a flow whose parameters failed validation
            run = self.start_run(obj, prun, self._parameters(prun), "started")
        if state.name == "Cached":
            _link_cached_outputs(run, state)
        inst = ensure_connected()
        _pending_ends.add(inst, run, _status(state), _utc(state.timestamp))
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


class _PendingEnds:
    """Final states of runs not written yet.

    A task run's end is written in one transaction with the next run's start, or when its
    flow ends (or right away for a task outside a tracked flow, and at interpreter exit):
    a task run costs one write transaction instead of two.
    """

    def __init__(self) -> None:
        self._items: list[tuple[Instance, Run, str, datetime | None]] = []
        self._lock = threading.Lock()
        atexit.register(self.write_all)

    def add(self, inst: Instance, run: Run, status: str, finished_at: datetime | None) -> None:
        with self._lock:
            self._items.append((inst, run, status, finished_at))

    def take(self, inst: Instance) -> list[tuple[Run, str, datetime | None]]:
        """Remove and return the pending ends of ``inst`` (those of others are dropped)."""
        with self._lock:
            items, self._items = self._items, []
        return [(run, status, at) for owner, run, status, at in items if owner is inst]

    def write_all(self) -> None:
        """Write the pending ends of the connected instance, if any."""
        try:
            inst = get_instance()
        except NotConnected:
            return
        _write_ends(self.take(inst))


_pending_ends = _PendingEnds()


def _write_ends(ends: list[tuple[Run, str, datetime | None]]) -> None:
    """Record run ends in one transaction (or in the caller's)."""
    if ends:
        with get_instance().write():
            for run, status, finished_at in ends:
                end_run(run, status, finished_at=finished_at)


@contextmanager
def _current(run: Run) -> Iterator[None]:
    """Make ``run`` the current run and the enclosing Prefect run in this context."""
    enclosing = _enclosing.set(run)
    current = set_current_run(run)
    try:
        yield
    finally:
        reset_current_run(current)
        _enclosing.reset(enclosing)


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

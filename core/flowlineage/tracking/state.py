"""The current run: a context variable per thread or task, with a process-wide fallback,
and the runs ``track()`` opened in this process (ended at exit if still open).

A run belongs to the process that started it. A child made by ``os.fork()`` inherits the
parent's current run and attaches its saves to it, but borrows it: its ``finish()``, exit,
signal and exception handlers never end it. ``track()`` also names its run in
``FLOWLINEAGE_RUN``, so a process started while it is open (multiprocessing spawn, a
subprocess) with no run of its own attaches its saves to that run, and never ends it.

Runs are held as ``Any``: this layer sits below the ``Run`` class (``run/`` offers the typed
accessors).
"""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

RUN_ENV = "FLOWLINEAGE_RUN"
"""The uid of the run ``track()`` opened, for processes started while it is open."""

_current: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "flowlineage_current_run", default=None
)
_process_run: Any = None
_open_runs: dict[int, tuple[Any, int]] = {}  # run id -> (run, pid of the process owning it)
_previous: dict[int, Any] = {}  # run id -> the run that was current before track()
_previous_env: dict[int, str | None] = {}  # run id -> RUN_ENV before track()
lock = threading.Lock()
os.register_at_fork(before=lock.acquire, after_in_parent=lock.release,
                    after_in_child=lock.release)  # the child's copy of the lock is free


def current_run() -> Any:
    """The run artifacts are attributed to here: this context's, else the process's."""
    return _current.get() or _process_run


def inherited_run_uid() -> str | None:
    """The uid in ``FLOWLINEAGE_RUN`` when this process owns no run (a spawned worker, a
    subprocess): the run its saves attach to, borrowed (``run.get_current_run`` loads it)."""
    uid = os.environ.get(RUN_ENV)
    return uid if uid and not open_run_ids() else None


def borrowed(run: Any) -> bool:
    """Whether ``run`` was opened by ``track()`` in another process (this is a forked child
    of it): a borrowed run is never ended here."""
    with lock:
        entry = _open_runs.get(run.id)
    return entry is not None and entry[1] != os.getpid()


@contextmanager
def use_run(run: Any) -> Iterator[Any]:
    """Make ``run`` current in this context (thread / task) for the ``with`` block."""
    token = _current.set(run)
    try:
        yield run
    finally:
        _current.reset(token)


def set_current_run(run: Any) -> contextvars.Token[Any]:
    """Make ``run`` current in this context; reset with ``reset_current_run(token)``."""
    return _current.set(run)


def reset_current_run(token: contextvars.Token[Any]) -> None:
    """Undo ``set_current_run``."""
    _current.reset(token)


def open_run(run: Any) -> None:
    """Make a run started by ``track()`` current, remembering the run current before it."""
    global _process_run
    _previous[run.id] = _current.get()
    _current.set(run)
    with lock:
        _open_runs[run.id] = (run, os.getpid())
        _previous_env.setdefault(run.id, os.environ.get(RUN_ENV))  # once: track() may reopen
        os.environ[RUN_ENV] = run.uid
        if threading.current_thread() is threading.main_thread():
            _process_run = run


def close_run(run: Any) -> None:
    """Forget an ended run; the run current before it becomes current again."""
    global _process_run
    with lock:
        _open_runs.pop(run.id, None)
        if _process_run is not None and _process_run.id == run.id:
            _process_run = None
        if run.id in _previous_env:
            _restore_env(_previous_env.pop(run.id))
    current = _current.get()
    if current is not None and current.id == run.id:  # back to the run current before track()
        _current.set(_previous.pop(run.id, None))
    else:
        _previous.pop(run.id, None)


def _restore_env(value: str | None) -> None:
    if value is None:
        os.environ.pop(RUN_ENV, None)
    else:
        os.environ[RUN_ENV] = value


def open_runs() -> list[Any]:
    """Runs ``track()`` opened in this process (not inherited from a parent) not ended yet."""
    pid = os.getpid()
    with lock:
        return [run for run, owner in _open_runs.values() if owner == pid]


def open_run_ids() -> list[int]:
    """Ids of ``open_runs()``."""
    return [run.id for run in open_runs()]


def forget_open_runs() -> None:
    """Stop tracking this process's open runs without recording an end (on disconnect)."""
    global _process_run
    with lock:
        _open_runs.clear()
        _process_run = None
        if _previous_env:  # as before the first track()
            _restore_env(next(iter(_previous_env.values())))
            _previous_env.clear()
    _current.set(None)

"""The current run: a context variable per thread or task, with a process-wide fallback,
and the runs ``track()`` opened in this process (ended at exit if still open).

Runs are held as ``Any``: this layer sits below the ``Run`` class (``run/`` offers the typed
accessors).
"""

from __future__ import annotations

import contextvars
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_current: contextvars.ContextVar[Any] = contextvars.ContextVar(
    "flowlineage_current_run", default=None
)
_process_run: Any = None
_open_runs: dict[int, Any] = {}  # runs started by track() in this process, not yet finished
_previous: dict[int, Any] = {}  # run id -> the run that was current before track()
lock = threading.Lock()


def current_run() -> Any:
    """The run artifacts are attributed to here: this context's, else the process's."""
    return _current.get() or _process_run


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
        _open_runs[run.id] = run
        if threading.current_thread() is threading.main_thread():
            _process_run = run


def close_run(run: Any) -> None:
    """Forget an ended run; the run current before it becomes current again."""
    global _process_run
    with lock:
        _open_runs.pop(run.id, None)
        if _process_run is not None and _process_run.id == run.id:
            _process_run = None
    current = _current.get()
    if current is not None and current.id == run.id:  # back to the run current before track()
        _current.set(_previous.pop(run.id, None))
    else:
        _previous.pop(run.id, None)


def open_runs() -> list[Any]:
    """Runs ``track()`` opened in this process that have not ended."""
    with lock:
        return list(_open_runs.values())


def open_run_ids() -> list[int]:
    """Ids of ``open_runs()``."""
    with lock:
        return list(_open_runs)


def forget_open_runs() -> None:
    """Stop tracking this process's open runs without recording an end (on disconnect)."""
    global _process_run
    with lock:
        _open_runs.clear()
        _process_run = None
    _current.set(None)

"""Ending runs: the status and finish time recorded once, and process exit handling.

Unhandled exceptions mark open runs errored, SIGTERM/SIGINT mark them aborted before the
process ends as it would have, and at interpreter exit a run still open is completed (exit
code 0) or errored. A heartbeat thread stamps open runs so reapers can spot dead ones. All
of them act on this process's own runs only: a forked child leaves its parent's alone.
"""

from __future__ import annotations

import atexit
import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

from sqlalchemy import update

from ..db.engine import get_instance
from ..db.enums import RunStatus
from ..db.schema import utcnow
from ..db.tables import run
from ..plugins import hook, notify
from .state import borrowed, close_run, current_run, lock, open_run_ids, open_runs

_exit_code: list[int] = [0]
_installed = False
_before_end: list[Callable[[Any], None]] = []
HEARTBEAT_SECONDS = float(os.environ.get("FLOWLINEAGE_HEARTBEAT_SECONDS", "30"))


def finish(status: str = "completed") -> Any:
    """End the current run (``completed`` unless told otherwise) and return it; a run
    borrowed from another process (see ``state``) is left to its owner: None."""
    current = current_run()
    if current is None or borrowed(current):
        return None
    end_run(current, status)
    return current


def before_end(callback: Callable[[Any], None]) -> None:
    """Call ``callback(run)`` before each run's end is recorded (once per callback)."""
    if callback not in _before_end:
        _before_end.append(callback)


def end_run(record: Any, status: str | int, finished_at: Any = None) -> None:
    """Record a run's end (status, finished time) once; later calls do nothing."""
    code = RunStatus.of(status)
    close_run(record)
    for callback in _before_end:
        callback(record)
    when = finished_at or utcnow()
    with get_instance().write() as s:
        s.execute(
            update(run).where(run.c.id == record.id, run.c._status_code < 0)
            .values(_status_code=code, finished_at=when)
        )
    record._status_code, record.finished_at = int(code), when
    notify(hook().flowlineage_run_finished, run=record)


def exit_code_of(code: object) -> int:
    """The process exit code ``sys.exit(code)`` (or ``SystemExit(code)``) gives: ``None``
    is 0, an int (``False`` and ``True`` too) itself, anything else (a message) 1."""
    if code is None:
        return 0
    return int(code) if isinstance(code, int) else 1


def status_after(exc_type: type[BaseException] | None, exc: BaseException | None) -> RunStatus:
    """The status of a run whose block ended with ``exc`` (``None``: normally).

    ``SystemExit`` is not a failure when its exit code is 0 (``sys.exit()``,
    ``sys.exit(0)``), and its code is kept for the runs ended at exit;
    ``KeyboardInterrupt`` aborts; any other exception errs.
    """
    if exc_type is None:
        return RunStatus.completed
    if issubclass(exc_type, SystemExit):
        code = exit_code_of(exc.code if isinstance(exc, SystemExit) else None)
        _exit_code[0] = code
        return RunStatus.completed if code == 0 else RunStatus.errored
    if issubclass(exc_type, KeyboardInterrupt):
        return RunStatus.aborted
    return RunStatus.errored


def install_handlers() -> None:
    """Install (once) the exit, exception and signal handlers that end open runs."""
    global _installed
    with lock:
        if _installed:
            return
        _installed = True
    previous_hook = sys.excepthook

    def excepthook(tp: type[BaseException], value: BaseException,
                   tb: TracebackType | None) -> None:
        _end_open_runs("aborted" if issubclass(tp, KeyboardInterrupt) else "errored")
        previous_hook(tp, value, tb)

    sys.excepthook = excepthook
    real_exit = sys.exit

    def exit_(code: Any = 0) -> None:
        _exit_code[0] = exit_code_of(code)
        real_exit(code)

    sys.exit = exit_  # type: ignore[assignment]
    atexit.register(_at_exit)
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            _chain_signal(sig)


def _chain_signal(sig: signal.Signals) -> None:
    previous = signal.getsignal(sig)

    def handler(signum: int, frame: FrameType | None) -> None:
        _end_open_runs("aborted")
        if callable(previous):
            previous(signum, frame)  # e.g. Python's default SIGINT handler: KeyboardInterrupt
            return
        signal.signal(signum, signal.SIG_DFL)  # end as the process would have: killed
        os.kill(os.getpid(), signum)

    signal.signal(sig, handler)


def _end_open_runs(status: str) -> None:
    for open_ in open_runs():
        try:
            end_run(open_, status)
        except Exception as e:  # never mask the process's own failure
            print(f"flowlineage: could not record run {open_.uid} as {status}: {e}",
                  file=sys.stderr)


def _at_exit() -> None:
    _end_open_runs("completed" if _exit_code[0] == 0 else "errored")
    Heartbeat.stop()


class Heartbeat:
    """A daemon thread stamping ``heartbeat_at`` on open runs, so reapers spot dead ones."""

    _thread: threading.Thread | None = None
    _stop = threading.Event()

    @classmethod
    def ensure_started(cls) -> None:
        if cls._thread is not None and cls._thread.is_alive():
            return
        cls._stop.clear()
        cls._thread = threading.Thread(target=cls._beat, name="flowlineage-heartbeat",
                                       daemon=True)
        cls._thread.start()

    @classmethod
    def stop(cls) -> None:
        cls._stop.set()

    @classmethod
    def _beat(cls) -> None:
        while not cls._stop.wait(HEARTBEAT_SECONDS):
            ids = open_run_ids()
            if not ids:
                continue
            try:
                with get_instance().write() as s:
                    s.execute(update(run).where(run.c.id.in_(ids), run.c._status_code < 0)
                              .values(heartbeat_at=utcnow()))
            except Exception:  # a missed beat is harmless; the next one retries
                continue

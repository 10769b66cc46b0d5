"""``track()`` / ``finish()``: a Run for the calling script, and the current run.

The current run lives in a context variable, so threads and async tasks (Prefect task
runners) can each have their own; ``track()`` also sets a process-wide fallback. Unhandled
exceptions mark the run errored, SIGTERM/SIGINT mark it aborted before the process ends as
it would have, and at interpreter exit a run still open is completed (exit code 0) or
errored.
"""

from __future__ import annotations

import atexit
import contextvars
import getpass
import os
import shlex
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update

from .errors import ValidationError
from .plugins import notify
from .schema import utcnow

if TYPE_CHECKING:
    from .models import Artifact, Project, Run, Transform

_current: contextvars.ContextVar[Run | None] = contextvars.ContextVar(
    "flowlineage_current_run", default=None
)
_process_run: Run | None = None
_open_runs: dict[int, Run] = {}  # runs started by track() in this process, not yet finished
_previous: dict[int, Run | None] = {}  # run id -> the run that was current before track()
_exit_code: list[int] = [0]
_installed = False
_lock = threading.Lock()
HEARTBEAT_SECONDS = float(os.environ.get("FLOWLINEAGE_HEARTBEAT_SECONDS", "30"))


def get_current_run() -> Run | None:
    """The run artifacts are attributed to here: this context's, else the process's."""
    return _current.get() or _process_run


@contextmanager
def use_run(run: Run | None) -> Iterator[Run | None]:
    """Make ``run`` current in this context (thread / task) for the ``with`` block."""
    token = _current.set(run)
    try:
        yield run
    finally:
        _current.reset(token)


def set_current_run(run: Run | None) -> contextvars.Token[Run | None]:
    """Make ``run`` current in this context; reset with ``reset_current_run(token)``."""
    return _current.set(run)


def reset_current_run(token: contextvars.Token[Run | None]) -> None:
    """Undo ``set_current_run``."""
    _current.reset(token)


def track(
    transform: Transform | str | None = None,
    project: Project | str | None = None,
    params: dict[str, Any] | None = None,
    new_run: bool | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Run:
    """Start a Run of the calling script (or of ``transform``) and make it current.

    Without arguments the script is found from ``__main__`` (or the caller's file); its
    source is stored and hashed, and changed source makes a new Transform version. Usable
    as ``with fl.track() as run:``.
    """
    from .ingest import get_or_create_transform, link_projects
    from .instance import ensure_connected
    from .models import Transform

    global _process_run
    inst = ensure_connected()
    if isinstance(transform, Transform):
        tf = transform
    else:
        script = Path(path) if path is not None else _calling_script()
        source = script.read_text(errors="replace") if script is not None else None
        key = transform if isinstance(transform, str) else (
            script.name if script is not None else "python -c"
        )
        tf = get_or_create_transform(key=key, type="script", source_code=source)
    run = None
    if new_run is False:
        from .models import Run

        run = Run.filter(transform_id=tf.id).order_by("-id").first()
    parent = get_current_run() or _parent_from_env()
    if run is None:
        run = _start_run(tf, params, parent)
    else:
        run.status, run.started_at, run.finished_at = "started", utcnow(), None
        run.save()
    if project is not None:
        link_projects(run, [project])
    _attach_environment(inst, run)
    _previous[run.id] = _current.get()
    _current.set(run)
    with _lock:
        _open_runs[run.id] = run
        if threading.current_thread() is threading.main_thread():
            _process_run = run
    _install_handlers()
    _Heartbeat.ensure_started()
    notify("flowlineage_run_started", run=run)
    return run


def finish(status: str = "completed") -> Run | None:
    """End the current run (``completed`` unless told otherwise) and return it."""
    run = get_current_run()
    if run is None:
        return None
    end_run(run, status)
    return run


def end_run(run: Run, status: str, finished_at: Any = None) -> None:
    """Record a run's end (status, finished time) once; later calls do nothing."""
    from .instance import get_instance
    from .models import Run, status_code

    global _process_run
    code = status_code(status)
    with _lock:
        _open_runs.pop(run.id, None)
        if _process_run is not None and _process_run.id == run.id:
            _process_run = None
    current = _current.get()
    if current is not None and current.id == run.id:  # back to the run current before track()
        _current.set(_previous.pop(run.id, None))
    else:
        _previous.pop(run.id, None)
    when = finished_at or utcnow()
    with get_instance().write() as s:
        s.execute(
            update(Run).where(Run.id == run.id, Run._status_code < 0)
            .values(_status_code=code, finished_at=when)
        )
    run._status_code, run.finished_at = code, when
    notify("flowlineage_run_finished", run=run)


def forget_open_runs() -> None:
    """Stop tracking this process's open runs without recording an end (on disconnect)."""
    global _process_run
    with _lock:
        _open_runs.clear()
        _process_run = None
    _current.set(None)


def _start_run(tf: Transform, params: dict[str, Any] | None, parent: Run | None) -> Run:
    from .models import Run

    if params is not None and not isinstance(params, dict):
        raise ValidationError("params must be a dict of JSON-serialisable values")
    run = Run(
        transform_id=tf.id,
        params=params,
        cli_args=shlex.join(sys.argv[1:]) if len(sys.argv) > 1 else None,
        initiated_by_run_id=parent.id if parent is not None else None,
        created_by=_user(),
        _status_code=-1,
        started_at=utcnow(),
    )
    return run.save()


def _parent_from_env() -> Run | None:
    uid = os.environ.get("FLOWLINEAGE_PARENT_RUN")
    if not uid:
        return None
    from .models import Run

    return Run.filter(uid=uid).first()


def _user() -> str | None:
    try:
        return getpass.getuser()
    except Exception:
        return None


def _calling_script() -> Path | None:
    main = sys.modules.get("__main__")
    file = getattr(main, "__file__", None)
    if file and os.path.isfile(file):
        return Path(file).resolve()
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        name = frame.f_code.co_filename
        if not name.startswith("<") and "flowlineage" not in Path(name).parts[-2:-1]:
            return Path(name).resolve() if os.path.isfile(name) else None
        frame = frame.f_back
    return None


def _attach_environment(inst: Any, run: Run) -> None:
    from .artifact_save import existing_or_new_bytes

    env = existing_or_new_bytes(inst, _env_bytes(), "run_environment.json", "environment")
    if env is not None:
        from .models import Run

        with inst.write() as s:
            s.execute(update(Run).where(Run.id == run.id).values(environment_id=env.id))
        run.environment_id = env.id


def _env_bytes() -> bytes:
    from .environment import environment_json

    return environment_json()


def link_inputs(run: Run, artifacts: list[Artifact]) -> None:
    """Link artifacts as inputs of ``run`` (idempotent) and fire ``artifact_used`` hooks."""
    from .instance import get_instance, insert_ignore
    from .models import run_input_artifact

    seen: set[int] = run.__dict__.setdefault("_fl_inputs", set())
    todo = [a for a in artifacts if a.id is not None and a.id not in seen]
    if not todo:
        return
    inst = get_instance()
    with inst.write() as s:
        existing = set(s.scalars(select(run_input_artifact.c.artifact_id).where(
            run_input_artifact.c.run_id == run.id,
            run_input_artifact.c.artifact_id.in_([a.id for a in todo]))))
        new = [a for a in todo if a.id not in existing]
        if new:
            s.execute(insert_ignore(inst.dialect, run_input_artifact),
                      [{"run_id": run.id, "artifact_id": a.id, "created_at": utcnow()}
                       for a in new])
    seen.update(a.id for a in todo if a.id is not None)
    for a in new:
        notify("flowlineage_artifact_used", artifact=a, run=run)


# ---------------------------------------------------------------- process exit handling


def _install_handlers() -> None:
    global _installed
    with _lock:
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
        _exit_code[0] = 0 if code is None else (code if isinstance(code, int) else 1)
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
    for run in list(_open_runs.values()):
        try:
            end_run(run, status)
        except Exception as e:  # never mask the process's own failure
            print(f"flowlineage: could not record run {run.uid} as {status}: {e}",
                  file=sys.stderr)


def _at_exit() -> None:
    _end_open_runs("completed" if _exit_code[0] == 0 else "errored")
    _Heartbeat.stop()


class _Heartbeat:
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
        from .instance import get_instance
        from .models import Run

        while not cls._stop.wait(HEARTBEAT_SECONDS):
            ids = list(_open_runs)
            if not ids:
                continue
            try:
                with get_instance().write() as s:
                    s.execute(update(Run).where(Run.id.in_(ids), Run._status_code < 0)
                              .values(heartbeat_at=utcnow()))
            except Exception:  # a missed beat is harmless; the next one retries
                continue

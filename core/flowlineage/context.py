"""``track()`` / ``finish()``: a Run for the calling script, made the current run
(lamindb's ``ln.track``). The current run itself lives in ``tracking``.
"""

from __future__ import annotations

import getpass
import os
import shlex
import sys
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import update

from .artifact.artifact import existing_or_new_bytes
from .db import engine
from .db.engine import ensure_connected
from .db.enums import RunStatus
from .db.schema import utcnow
from .errors import ValidationError
from .plugins import hook, notify
from .run.labels import Project, link_projects
from .run.run import Run, get_current_run
from .run.transform import Transform, get_or_create_transform
from .tracking import state
from .tracking.ending import Heartbeat, finish, install_handlers
from .tracking.environment import environment_json
from .tracking.redact import redact_args, redact_params

__all__ = ["finish", "track"]


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
        run = Run.filter(transform_id=tf.id).order_by("-id").first()
    parent = get_current_run() or _parent_from_env()
    if run is None:
        run = _start_run(tf, params, parent)
    else:
        run.status, run.started_at, run.finished_at = "started", utcnow(), None
        run.save()
    if project is not None:
        link_projects(run.id, [project])
    _attach_environment(inst, run)
    state.open_run(run)
    install_handlers()
    Heartbeat.ensure_started()
    notify(hook().flowlineage_run_started, run=run)
    return run


def _start_run(tf: Transform, params: dict[str, Any] | None, parent: Run | None) -> Run:
    if params is not None and not isinstance(params, dict):
        raise ValidationError("params must be a dict of JSON-serialisable values")
    run = Run(
        transform_id=tf.id,
        params=redact_params(params),
        cli_args=shlex.join(redact_args(sys.argv[1:])) if len(sys.argv) > 1 else None,
        initiated_by_run_id=parent.id if parent is not None else None,
        created_by=_user(),
        _status_code=int(RunStatus.started),
        started_at=utcnow(),
    )
    return run.save()


def _parent_from_env() -> Run | None:
    uid = os.environ.get("FLOWLINEAGE_PARENT_RUN")
    if not uid:
        return None
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
        if not name.startswith("<") and "flowlineage" not in Path(name).parts[-3:-1]:
            return Path(name).resolve() if os.path.isfile(name) else None
        frame = frame.f_back
    return None


def _attach_environment(inst: Any, run: Run) -> None:
    env = existing_or_new_bytes(inst, _env_bytes(), "run_environment.json", "environment")
    if env is not None:
        with inst.write() as s:
            s.execute(update(Run).where(Run.id == run.id).values(environment_id=env.id))
        run.environment_id = env.id


def _env_bytes() -> bytes:
    return environment_json()


def disconnect() -> None:
    """Close the current instance's connections and forget it and this process's open runs."""
    state.forget_open_runs()
    engine.disconnect()

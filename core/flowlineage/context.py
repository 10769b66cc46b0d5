"""``track()`` / ``finish()``: a Run for the calling script, made the current run
(lamindb's ``ln.track``), and ``context``, lamindb's ``ln.context`` holding the current run,
transform and project. The current run itself lives in ``tracking``.
"""

from __future__ import annotations

import getpass
import os
import shlex
import sys
from collections.abc import Iterable
from pathlib import Path
from types import FrameType
from typing import Any

from sqlalchemy import update

from .artifact.artifact import Artifact, existing_or_new_bytes
from .artifact.save import save_many
from .db import engine
from .db.engine import Instance, ensure_connected, get_instance
from .db.enums import RunStatus
from .db.schema import utcnow
from .errors import ValidationError
from .plugins import hook, notify
from .run.labels import Project, project_named
from .run.run import Run, get_current_run
from .run.transform import Transform, get_or_create_transform, is_transform_uid
from .tracking import state
from .tracking.capture import Capture
from .tracking.ending import Heartbeat, before_end, install_handlers
from .tracking.ending import finish as end_current
from .tracking.environment import requirements_txt
from .tracking.redact import redact_args, redact_params

__all__ = ["Context", "context", "finish", "save", "track"]


class Context:
    """lamindb's ``ln.context``: the current run, its transform and project.

    ``uid``, ``version`` and ``description`` may be set before ``track()`` to name the
    transform; afterwards they read the tracked transform's values.
    """

    def __init__(self) -> None:
        self._uid: str | None = None
        self._version: str | None = None
        self._description: str | None = None
        self._project: Project | None = None

    @property
    def run(self) -> Run | None:
        """The current run."""
        return get_current_run()

    @property
    def transform(self) -> Transform | None:
        """The current run's transform."""
        run = self.run
        return None if run is None else run.transform

    @property
    def project(self) -> Project | None:
        """The project given to the last ``track()``."""
        return self._project

    def _transform_field(self, name: str, set_value: str | None) -> str | None:
        if set_value is not None:
            return set_value
        tf = self.transform
        return None if tf is None else getattr(tf, name)

    @property
    def uid(self) -> str | None:
        """The transform uid to track (set before ``track()``), else the current one's."""
        return self._transform_field("uid", self._uid)

    @uid.setter
    def uid(self, value: str | None) -> None:
        self._uid = value

    @property
    def version(self) -> str | None:
        """The transform version to track, else the current one's."""
        return self._transform_field("version", self._version)

    @version.setter
    def version(self, value: str | None) -> None:
        self._version = value

    @property
    def description(self) -> str | None:
        """The transform description to track, else the current one's."""
        return self._transform_field("description", self._description)

    @description.setter
    def description(self, value: str | None) -> None:
        self._description = value

    def track(self, transform: Transform | str | None = None,
              project: Project | str | None = None, params: dict[str, Any] | None = None,
              new_run: bool | None = None, path: str | os.PathLike[str] | None = None) -> Run:
        """``track()``."""
        return track(transform, project, params, new_run, path)

    def finish(self, ignore_non_consecutive: bool | None = None) -> Run | None:
        """``finish()``."""
        return finish(ignore_non_consecutive=ignore_non_consecutive)


context = Context()


def track(
    transform: Transform | str | None = None,
    project: Project | str | None = None,
    params: dict[str, Any] | None = None,
    new_run: bool | None = None,
    path: str | os.PathLike[str] | None = None,
) -> Run:
    """Start a Run of the calling script (or of ``transform``) and make it current.

    Without arguments the script is found from ``__main__`` (or the caller's file); its
    source is stored and hashed, and changed source makes a new Transform version. A
    transform uid (``track("Onv04I53OgtT0000")``, or ``context.uid``) keeps one version
    history across renames. ``project`` must exist. The script's stdout and stderr are
    teed into ``run.report`` and its packages saved as ``run.environment``. Usable as
    ``with fl.track() as run:``.
    """
    inst = ensure_connected()
    proj = project_named(project) if isinstance(project, str) else project
    tf = transform if isinstance(transform, Transform) else _script_transform(transform, path)
    run = None
    if new_run is False:
        run = Run.filter(transform_id=tf.id).order_by("-id").first()
    parent = get_current_run() or _parent_from_env()
    if run is None:
        run = _start_run(tf, params, parent)
    else:
        run.status, run.started_at, run.finished_at = "started", utcnow(), None
        run.save()
    if proj is not None:
        run.projects.add(proj)
    context._project = proj
    _attach_environment(inst, run)
    state.open_run(run)
    install_handlers()
    before_end(_save_report)
    Capture.start(run.id)
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


def finish(status: str = "completed", ignore_non_consecutive: bool | None = None) -> Run | None:
    """End the current run (``completed`` unless told otherwise), save its report (the
    captured stdout and stderr) and return it.

    ``ignore_non_consecutive`` is accepted for lamindb's notebooks; a script's cells always
    run in order, so it changes nothing here.
    """
    ended: Run | None = end_current(status)
    return ended


def save(records: Iterable[Any], max_workers: int | None = None) -> list[Any]:
    """Save records of any kind (lamindb's ``ln.save``): unsaved artifacts together (hashed
    and copied in parallel, inserted in one transaction), then every other record."""
    found = list(records)
    artifacts = [r for r in found if isinstance(r, Artifact)]
    if artifacts:
        save_many(artifacts, max_workers)
    for record in found:
        if not isinstance(record, Artifact):
            record.save()
    return found


def _script_transform(transform: str | None, path: str | os.PathLike[str] | None) -> Transform:
    script = Path(path) if path is not None else _calling_script()
    source = script.read_text(errors="replace") if script is not None else None
    uid = transform if transform is not None and is_transform_uid(transform) else context._uid
    key = transform if transform is not None and transform != uid else (
        script.name if script is not None else "python -c"
    )
    return get_or_create_transform(key=key, type="script", source_code=source,
                                   version=context._version,
                                   description=context._description, uid=uid)


def _save_report(run: Any) -> None:
    """Save the output captured for ``run`` as its report (``before_end`` callback)."""
    captured = Capture.stop(run.id)
    if captured is None:
        return
    inst = get_instance()
    report = existing_or_new_bytes(inst, captured[1].encode(), "run_report.txt", "report")
    _set_run_artifact(inst, run, "report_id", report.id)


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


def _attach_environment(inst: Instance, run: Run) -> None:
    env = existing_or_new_bytes(inst, requirements_txt(), "requirements.txt", "environment")
    _set_run_artifact(inst, run, "environment_id", env.id)


def _set_run_artifact(inst: Instance, run: Any, column: str, artifact_id: int) -> None:
    with inst.write() as s:
        s.execute(update(Run).where(Run.id == run.id).values({column: artifact_id}))
    setattr(run, column, artifact_id)


def disconnect() -> None:
    """Close the current instance's connections and forget it and this process's open runs."""
    state.forget_open_runs()
    engine.disconnect()

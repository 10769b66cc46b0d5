"""lamindb 2.x's ``@flow()`` and ``@step()``: each call of a decorated function is a Run.

The transform is the file defining the function (a ``function`` transform when there is
no file), the run's ``entrypoint`` the function's name. Arguments become ``params``; Path
and Artifact arguments become inputs, Path and Artifact return values outputs.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, ParamSpec, TypeVar

from .artifact.artifact import Artifact
from .context import _start_run
from .db.engine import ensure_connected
from .errors import ValidationError
from .plugins import hook, notify
from .run.labels import project_named
from .run.run import Run, get_current_run
from .run.transform import Transform, get_or_create_transform
from .tracking import state
from .tracking.ending import end_run, install_handlers
from .tracking.inputs import link_inputs

P = ParamSpec("P")
R = TypeVar("R")
GlobalRun = Literal["memorize", "clear", "none"]


def flow(uid: str | None = None, global_run: GlobalRun = "clear",
         ) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Track each call of the decorated function as a workflow Run.

    Like ``track()`` it makes the run the current (global) run: ``"clear"`` ends that at
    return, ``"memorize"`` keeps it current afterwards, ``"none"`` makes it current only in
    this thread or task (for concurrent calls). Called inside a run, the flow's run is
    initiated by it. A ``project`` argument names the run's project, as in ``track()``.
    ``uid`` keeps the transform's version history across renames.
    """
    return _decorator(uid, global_run, needs_parent=False)


def step(uid: str | None = None) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Track each call of the decorated function as a Run initiated by the current run.

    A step called outside any run (no ``track()``, ``@flow()`` or ``use_run``) raises
    ``ValidationError``, as lamindb's does.
    """
    return _decorator(uid, "none", needs_parent=True)


def _decorator(uid: str | None, global_run: GlobalRun,
               needs_parent: bool) -> Callable[[Callable[P, R]], Callable[P, R]]:
    if global_run not in ("memorize", "clear", "none"):
        raise ValidationError(f"global_run must be 'memorize', 'clear' or 'none', "
                              f"not {global_run!r}")

    def decorate(func: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(func)

        @functools.wraps(func)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            parent = get_current_run()
            if needs_parent and parent is None:
                raise ValidationError(
                    f"step {func.__name__!r} called outside a run: track the caller "
                    "with fl.track() or decorate it with @fl.flow()")
            ensure_connected()
            bound = signature.bind(*args, **kwargs)
            bound.apply_defaults()
            run, inputs = _start(func, uid, bound.arguments, parent)
            link_inputs(run, inputs)
            return _call(func, run, global_run, args, kwargs)

        return wrapper

    return decorate


def _start(func: Callable[..., Any], uid: str | None, arguments: dict[str, Any],
           parent: Run | None) -> tuple[Run, list[Artifact]]:
    """The run of one call (not current yet) and the artifacts its arguments name."""
    params: dict[str, Any] = {}
    inputs: list[Artifact] = []
    for name, value in arguments.items():
        if isinstance(value, Artifact):
            inputs.append(value)
            params[name] = value.uid
        elif isinstance(value, Path):
            inputs.append(_as_artifact(value, None))
            params[name] = str(value)
        else:
            params[name] = _jsonable(value)
    project = arguments.get("project")
    run = _start_run(_transform(func, uid), params, parent)
    run.entrypoint = func.__name__
    run.save()
    if isinstance(project, str):
        run.projects.add(project_named(project))
    return run, inputs


def _call(func: Callable[P, R], run: Run, global_run: GlobalRun, args: Any,
          kwargs: Any) -> R:
    """Call ``func`` with ``run`` current, record its outputs and its end."""
    if global_run == "none":
        token = state.set_current_run(run)
    else:
        state.open_run(run)
        install_handlers()
    notify(hook().flowlineage_run_started, run=run)
    try:
        result = func(*args, **kwargs)
        _record_outputs(run, result)
    except BaseException as exc:
        end_run(run, "aborted" if isinstance(exc, KeyboardInterrupt) else "errored")
        raise
    finally:
        if global_run == "none":
            state.reset_current_run(token)
    end_run(run, "completed")
    if global_run == "memorize":  # the ended run stays ``context.run``
        state.set_current_run(run)
    return result


def _record_outputs(run: Run, result: Any) -> None:
    values = result if isinstance(result, tuple | list) else [result]
    for value in values:
        if isinstance(value, Path):
            _as_artifact(value, run)


def _as_artifact(path: Path, run: Run | None) -> Artifact:
    """The artifact of a file or folder: saved by ``run``, or registered with no run."""
    if not path.exists():
        raise ValidationError(f"no file or folder at {path}")
    return Artifact(path, description=path.name, run=run if run is not None else False).save()


def _transform(func: Callable[..., Any], uid: str | None) -> Transform:
    file = inspect.getsourcefile(func)
    if file is not None and os.path.isfile(file):
        source = Path(file).read_text(errors="replace")
        return get_or_create_transform(key=Path(file).name, type="script",
                                       source_code=source, uid=uid)
    try:
        code: str | None = inspect.getsource(func)
    except (OSError, TypeError):
        code = None
    return get_or_create_transform(key=func.__qualname__, type="function",
                                   source_code=code, uid=uid)


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return repr(value)

"""``fl.input(path)`` / ``fl.output(path)``: declare a file or folder the current run read
or wrote, where nothing else would see it (a path an orchestrator never passes around)."""

from __future__ import annotations

import os

from ..errors import ValidationError
from ..run.run import Run, get_current_run
from ..storage.keys import key_for_path
from ..tracking.inputs import link_inputs
from .artifact import Artifact

__all__ = ["input", "output"]


def input(path: str | os.PathLike[str], key: str | None = None) -> Artifact:
    """Link the file or folder at ``path`` as an input of the current run.

    Content saved before is found by its hash; new content is registered as an artifact
    no run created (under ``key``, default: its path relative to the working directory).
    """
    run = _current("input")
    art = Artifact(path, key=key or key_for_path(path, os.getcwd()), run=False).save()
    link_inputs(run, [art])
    return art


def output(path: str | os.PathLike[str], key: str | None = None,
           description: str | None = None) -> Artifact:
    """Save the file or folder at ``path`` as an output of the current run.

    ``key`` defaults to its path relative to the working directory. Content saved before
    by another run is linked as recreated by this one.
    """
    run = _current("output")
    return Artifact(path, key=key or key_for_path(path, os.getcwd()),
                    description=description, run=run).save()


def _current(what: str) -> Run:
    run = get_current_run()
    if run is None:
        raise ValidationError(
            f"fl.{what}() needs a current run: call fl.track() first, or call it inside a "
            "tracked flow or task"
        )
    return run

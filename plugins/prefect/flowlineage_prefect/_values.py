"""From Prefect parameters and return values to run params, input and output artifacts.

Paths (``os.PathLike``) and ``fl.Artifact`` objects are found at any depth of lists,
tuples, sets and dict values, ``str`` values naming an existing file or folder at the top
and one level down, and completed Prefect futures by their results; everything else only
shows up in the JSON-safe params. Parameters that are files are inputs; folders are not (a
folder parameter is usually a working or output directory; pass a saved folder Artifact
to record one as an input). Returned files and folders are outputs, keyed by their path
relative to the flow's working directory (their absolute path without the leading ``/``
outside it); the path itself is recorded as a location of the artifact.
"""

from __future__ import annotations

import math
import os
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from flowlineage import Artifact
from flowlineage.adapters import hash_file, hash_folder, key_for_path, link_inputs
from prefect.futures import PrefectFuture

if TYPE_CHECKING:
    from flowlineage import Run

MAX_DEPTH = 20
MAX_REPR = 2000
STR_DEPTH = 1
"""How deep in containers a ``str`` is checked for being a path (one ``stat`` each); the
parameters' dict adds one level."""
MAX_PATH = 4096


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON: containers recursively, paths as strings, other values as repr."""
    kind = type(value)
    if value is None or kind in (str, int, bool):
        return value
    if kind is float:
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, PurePath):
        return str(value)
    if depth < MAX_DEPTH:
        if kind is dict:
            return {k if type(k) is str else _key(k): json_safe(v, depth + 1)
                    for k, v in value.items()}
        if kind in (list, tuple):
            return [json_safe(v, depth + 1) for v in value]
    text = repr(value)
    return text if len(text) <= MAX_REPR else text[:MAX_REPR] + "..."


def _key(key: Any) -> str:
    return str(key) if type(key) in (int, float, bool) or key is None else repr(key)


def find_data(value: Any, str_depth: int = STR_DEPTH) -> tuple[list[Path], list[Artifact]]:
    """The paths and artifacts inside ``value``, each once, in order of appearance
    (``str`` paths down to ``str_depth``)."""
    paths: dict[Path, None] = {}
    artifacts: dict[int, Artifact] = {}
    _walk(value, paths, artifacts, 0, str_depth)
    return list(paths), list(artifacts.values())


def _walk(value: Any, paths: dict[Path, None], artifacts: dict[int, Artifact],
          depth: int, str_depth: int) -> None:
    if type(value) is str:
        if depth <= str_depth and _names_existing_path(value):
            paths[Path(os.path.abspath(value))] = None
    elif isinstance(value, os.PathLike):
        paths[Path(os.path.abspath(value))] = None
    elif isinstance(value, Artifact):
        artifacts.setdefault(id(value), value)
    elif depth < MAX_DEPTH and isinstance(value, list | tuple | set | frozenset | dict):
        for item in value.values() if isinstance(value, dict) else value:
            _walk(item, paths, artifacts, depth + 1, str_depth)
    elif isinstance(value, PrefectFuture) and value.state.is_completed():
        _walk(value.result(), paths, artifacts, depth, str_depth)


def _names_existing_path(text: str) -> bool:
    return 0 < len(text) <= MAX_PATH and "\n" not in text and "\0" not in text \
        and os.path.exists(text)


def link_input_data(run: Run, paths: list[Path], artifacts: list[Artifact],
                    workdir: str) -> None:
    """Link the files and saved artifacts as inputs of ``run`` (folders are left out).

    A file is found by its content hash; one never seen before is registered as an
    artifact no run created, keyed by its path relative to ``workdir``.
    """
    found = [a for a in artifacts if a.id is not None]
    for path in paths:
        if path.is_file():
            found.append(Artifact(path, key=key_for_path(path, workdir), run=False).save())
    link_inputs(run, found)


def save_output_data(run: Run, paths: list[Path], artifacts: list[Artifact],
                     skip: set[Path], keep_existing: bool, workdir: str) -> None:
    """Save the files (except ``skip``) and unsaved artifacts as outputs of ``run``.

    Files are keyed by their path relative to ``workdir``. Content saved before is linked
    as recreated by ``run``, unless ``keep_existing`` (a flow returning what its tasks
    wrote), when it is left as it is.
    """
    todo = [a for a in artifacts if a.id is None]
    for path in paths:
        if path in skip or not path.exists():
            continue
        if keep_existing and existing_artifact(path) is not None:
            continue
        todo.append(Artifact(path, key=key_for_path(path, workdir), run=run))
    if len(todo) == 1:
        todo[0].save()
    elif todo:
        from flowlineage import save

        save(todo)


def existing_artifact(path: Path) -> Artifact | None:
    """The saved artifact with the content of ``path`` (file or folder), if any."""
    digest = hash_folder(path)[0] if path.is_dir() else hash_file(path)[0]
    return Artifact.filter(hash=digest).first()

"""Recording the files Nextflow tasks read and wrote through the core API.

Files found on disk are saved as copies: ingestion never makes a user's folder a storage
root (roots are made by the user or the storage configuration only).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from flowlineage import Artifact, Run


def pipeline_folder(store_root: str) -> str:
    """The folder a lineage store belongs to (its launch directory): the parent of the
    ``.lineage`` folder holding ``store_root``, else the folder of a lone record file."""
    path = os.path.realpath(store_root)
    parts = path.split(os.sep)
    if ".lineage" in parts:
        return os.sep.join(parts[: len(parts) - parts[::-1].index(".lineage") - 1]) or os.sep
    return path if os.path.isdir(path) else os.path.dirname(path)


def is_under(path: str, folder: str) -> bool:
    """Whether ``path`` (symlinks resolved) lies inside ``folder``."""
    return os.path.realpath(path).startswith(folder.rstrip(os.sep) + os.sep)


def runs_by_id(ids: list[int]) -> dict[int, Run]:
    """The Runs with these ids (a query per 500)."""
    import flowlineage as fl

    runs: dict[int, Run] = {}
    for start in range(0, len(ids), 500):
        runs.update((r.id, r) for r in fl.Run.filter(id__in=ids[start : start + 500]).all())
    return runs


def artifact(path: str, run: Run | None, description: str | None = None,
             key: str | None = None) -> Artifact:
    """An unsaved artifact of ``path`` (under ``key``, default its name) created by ``run``;
    with no run, not by the caller's tracked run either (the creator of an input found on
    disk is unknown)."""
    import flowlineage as fl

    return fl.Artifact(path, key=key or os.path.basename(path),
                       run=False if run is None else run, description=description)


def saved_id(saved: Artifact) -> int:
    """The id of a saved artifact."""
    assert saved.id is not None
    return saved.id


def local_path(path: str) -> str | None:
    """The local file system path of a path or ``file://`` URI; None for other URIs."""
    if path.startswith("file:"):
        return unquote(urlsplit(path).path)
    return None if "://" in path else os.path.abspath(path)


def location(path: str, tail: str | None = None) -> tuple[str, str]:
    """``(storage root, key)`` of a path or URI.

    A local path ending in ``tail`` (its known relative part) is rooted where ``tail`` starts,
    else in its directory. Remote URIs are rooted at ``scheme://host``.
    """
    local = local_path(path)
    if local is None:
        scheme, rest = path.split("://", 1)
        host, _, key = rest.partition("/")
        return f"{scheme}://{host}", key.split("?", 1)[0].rstrip("/")
    local = os.path.normpath(local)
    if tail and local.endswith(os.sep + tail):
        return local[: -len(tail) - 1] or os.sep, tail
    return os.path.dirname(local), os.path.basename(local)

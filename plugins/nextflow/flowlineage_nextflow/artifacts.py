"""Recording the files Nextflow tasks read and wrote, in place, through the core API."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from flowlineage import Artifact, Run


def register_roots(roots: set[str], description: str) -> None:
    """Register storage roots (files under them are then saved in place)."""
    from flowlineage.adapters import register_storage

    for root in sorted(roots):
        register_storage(root, description=description)


def runs_by_id(ids: list[int]) -> dict[int, Run]:
    """The Runs with these ids (a query per 500)."""
    import flowlineage as fl

    runs: dict[int, Run] = {}
    for start in range(0, len(ids), 500):
        runs.update((r.id, r) for r in fl.Run.filter(id__in=ids[start : start + 500]).all())
    return runs


def artifact(path: str, run: Run | None, description: str | None = None) -> Artifact:
    """An unsaved artifact of ``path`` created by ``run``; with no run, not by the caller's
    tracked run either (the creator of an input found on disk is unknown)."""
    import flowlineage as fl

    return fl.Artifact(path, run=False if run is None else run, description=description)


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

"""Commands about files by path: ``flowlineage status`` (``git status`` for data) and
``flowlineage check`` (re-hash every local location), and resolving a path for ``lineage``."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Annotated, Any

import typer

from ..artifact.artifact import Artifact
from ..artifact.locations import (
    Location,
    State,
    newest_by_path,
    normalize,
    place_state,
    this_host,
    under,
)
from ..db import tables
from ..errors import DoesNotExist
from ..plugins import orchestrator_of
from ..run.run import Run
from ..run.transform import Transform
from .common import connect, console, print_json, resolve_node, when

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
STYLES = {"unchanged": "green", "modified": "bold red", "missing": "bold magenta"}
DRIFT = 1
"""Exit code when a location is modified or missing."""


def resolve_path_or_node(text: str) -> Run | Artifact:
    """An existing file or folder (or a URI) by path first, else a run or artifact id."""
    if "://" in text or os.path.lexists(text):
        found = Artifact.get(path=text)
        if found.matched_by == "content":
            console(stderr=True).print(f"{text} was never recorded; its content is artifact "
                                       f"{found.uid}", markup=False)
        return found
    return resolve_node(text)


def status_cmd(
    paths: Annotated[list[str] | None, typer.Argument(
        metavar="[PATH]...", help="Files or folders (recursive), local or s3://; default: the "
        "current folder.")] = None,
    as_json: JsonOpt = False,
) -> int:
    """Show each recorded file under PATH: unchanged, modified or missing, and which run
    wrote it. Exit code 1 when any is modified or missing."""
    connect()
    found: dict[tuple[str, str | None], tuple[Location, str]] = {}
    for given in paths or ["."]:
        place, host = normalize(given)
        matches = newest_by_path(under(place, host))
        if not matches:
            if host is not None and not os.path.lexists(place):
                raise DoesNotExist(f"{given}: no such file or folder, and nothing was "
                                   "recorded there")
            continue
        found.update(((loc.path, loc.host), (loc, digest)) for loc, digest in matches)
    rows = sorted(found.values(), key=lambda pair: pair[0].path)
    states = [place_state(loc.path, loc.host, loc.size, loc.mtime, digest)
              for loc, digest in rows]
    _report([loc for loc, _ in rows], states, as_json)
    return DRIFT if any(s != "unchanged" for s in states) else 0


def check_cmd(
    jobs: Annotated[int, typer.Option("--jobs", "-j", min=1, help="Files hashed at once."
                                      )] = min(8, os.cpu_count() or 1),
    as_json: JsonOpt = False,
) -> int:
    """Re-hash every location on this host and list those modified or missing (exit 1)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    connect()
    rows = newest_by_path(tables.artifact_location.c.host == this_host())

    def verify(pair: tuple[Location, str]) -> State:
        loc, digest = pair
        return place_state(loc.path, loc.host, loc.size, loc.mtime, digest, verify=True)

    states: list[State] = []
    columns = (TextColumn("hashing"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, console=console(stderr=True), transient=True) as progress, \
            ThreadPoolExecutor(jobs) as pool:
        task = progress.add_task("check", total=len(rows))
        for state in pool.map(verify, rows):
            states.append(state)
            progress.advance(task)
    drift = [(loc, s) for (loc, _), s in zip(rows, states, strict=True) if s != "unchanged"]
    _report([loc for loc, _ in drift], [s for _, s in drift], as_json)
    if not as_json:
        console(stderr=True).print(f"checked {len(rows)} location(s): {len(drift)} drifted",
                                   markup=False)
    return DRIFT if drift else 0


def _report(locations: list[Location], states: list[State], as_json: bool) -> None:
    """Print each location's state and writer, as lines for people or JSON for scripts."""
    writers = _writers(locations)
    if as_json:
        print_json([{"path": loc.uri, "state": state, "artifact_id": loc.artifact_id,
                     "size": loc.size, "recorded_at": loc.recorded_at,
                     "run": writers.get(loc.run_id or 0)}
                    for loc, state in zip(locations, states, strict=True)])
        return
    from rich.text import Text

    cwd = Path.cwd()
    lines = Text()  # one print: rich lays out one text faster than thousands of lines
    for loc, state in zip(locations, states, strict=True):
        writer = writers.get(loc.run_id or 0)
        who = (f"{writer['orchestrator']} {writer['name']} ({when(writer['at'])})"
               if writer else "no writing run recorded")
        lines.append(f"{state:<10}", style=STYLES[state])
        lines.append(f"  {_shown(loc.uri, cwd)}  {who}\n")
    if lines:
        console().print(lines, end="", soft_wrap=True)


def _shown(path: str, cwd: Path) -> str:
    """A path relative to the current folder when below it."""
    if path.startswith(f"{cwd}/"):
        return path[len(str(cwd)) + 1 :]
    return path


def _writers(locations: list[Location]) -> dict[int, dict[str, Any]]:
    """Orchestrator, job/task name and time of the runs that wrote the locations."""
    ids = sorted({loc.run_id for loc in locations if loc.run_id is not None})
    runs: list[Run] = []
    for start in range(0, len(ids), 500):
        runs += Run.filter(id__in=ids[start : start + 500]).all()
    tf_ids = sorted({r.transform_id for r in runs})
    transforms = {t.id: t for t in Transform.filter(id__in=tf_ids).all()} if tf_ids else {}
    out = {}
    for r in runs:
        tf = transforms[r.transform_id]
        out[r.id] = {"id": r.id, "uid": r.uid, "orchestrator": orchestrator_of(
            r.reference_type, tf.key), "name": r.name or tf.key, "transform": tf.key,
            "at": r.finished_at or r.started_at or r.created_at}
    return out

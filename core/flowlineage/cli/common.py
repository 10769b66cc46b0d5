"""Helpers shared by the CLI commands: connecting with the global options, ID resolution,
time parsing, output (rich loads inside the functions that print).
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

import typer

from ..artifact.artifact import Artifact
from ..collection.collection import Collection
from ..db.engine import Instance
from ..db.engine import connect as db_connect
from ..db.enums import Branch
from ..db.ids import VERSION_LEN
from ..db.record import Record
from ..errors import DoesNotExist, MultipleResultsFound
from ..run.run import Run
from .state import STATE

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

R = TypeVar("R", bound="Record")
MIN_PREFIX = 4
MAX_CANDIDATES = 10
PIPE_WIDTH = 160
STATUS_STYLES = {
    "completed": "green", "errored": "bold red", "aborted": "magenta", "started": "cyan",
    "restarted": "yellow", "scheduled": "dim",
}


def connect() -> Instance:
    """Connect with ``--db`` / ``--storage`` (else the environment's defaults)."""
    return db_connect(STATE.db, STATE.storage)


# ---------------------------------------------------------------- output


def console(stderr: bool = False) -> Console:
    """A rich console on the current stdout (or stderr); wide when writing to a pipe or file."""
    from rich.console import Console

    out = Console(stderr=stderr, highlight=False)
    if out.is_terminal or "COLUMNS" in os.environ:
        return out
    return Console(stderr=stderr, highlight=False, width=PIPE_WIDTH)


@contextmanager
def progress(description: str, total: int | None = None, delay: float = 1.0
             ) -> Iterator[Callable[..., None]]:
    """A transient progress bar on stderr (a terminal only), shown once the work has taken
    ``delay`` seconds; yields ``update(advance=1, description=None)``.
    """
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    out = console(stderr=True)
    counts = [MofNCompleteColumn()] if total is not None else []
    bar = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), *counts,
                   TimeElapsedColumn(), console=out, transient=True,
                   disable=not out.is_terminal)
    task = bar.add_task(description, total=total)
    timer = threading.Timer(delay, bar.start)
    timer.daemon = True
    timer.start()

    def update(advance: int = 1, description: str | None = None) -> None:
        bar.update(task, advance=advance, description=description)

    try:
        yield update
    finally:
        timer.cancel()
        timer.join()
        bar.stop()


def print_json(data: Any) -> None:
    """Print JSON for scripts (datetimes as ISO 8601)."""
    typer.echo(json.dumps(data, indent=2, default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def record_dict(record: Any) -> dict[str, Any]:
    """A record's columns as JSON-ready values (``status`` and ``branch`` by name)."""
    out: dict[str, Any] = {}
    for attr in record.__mapper__.column_attrs:
        key = attr.key
        if key == "source_code":
            continue
        value = getattr(record, key)
        if key == "_status_code":
            out["status"] = record.status
        elif key == "_branch_code":
            out["branch"] = "main" if value == Branch.main else "trash"
        else:
            out[key.lstrip("_")] = value.isoformat() if isinstance(value, datetime) else value
    return out


def when(value: datetime | None) -> str:
    """A timestamp in local time for people (``-`` when unset)."""
    return "-" if value is None else value.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def duration_text(start: datetime | None, end: datetime | None) -> str:
    """``1h 02m``, ``3m 05s`` or ``4.2s`` between two timestamps (``-`` if unknown)."""
    if start is None or end is None:
        return "-"
    seconds = (end - start).total_seconds()
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m {secs:02d}s"


def status_text(status: str) -> Text:
    """A run status in its colour."""
    from rich.text import Text

    return Text(status, style=STATUS_STYLES.get(status, ""))


def cells(*values: object) -> list[Text]:
    """Table cells: plain text (never markup), rich ``Text`` kept as it is."""
    from rich.text import Text

    return [v if isinstance(v, Text) else Text("-" if v is None else str(v)) for v in values]


# ---------------------------------------------------------------- time arguments

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str, option: str = "--older-than") -> timedelta:
    """``30s``, ``10m``, ``2h``, ``1d``, ``1w`` or combinations such as ``1h30m``."""
    compact = text.replace(" ", "").lower()
    parts = _DURATION_PART.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise typer.BadParameter(f"{text!r} is not a duration; use e.g. 30s, 10m, 2h or 1d",
                                 param_hint=option)
    return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u] for n, u in parts))


def parse_since(text: str, option: str = "--since") -> datetime:
    """An ISO date/time (UTC unless it names a zone) or a duration back from now."""
    try:
        return datetime.now(UTC) - parse_duration(text, option)
    except typer.BadParameter:
        pass
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither an ISO date/time (2024-05-01, 2024-05-01T12:00) nor a "
            "duration (2h, 1d)", param_hint=option) from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


# ---------------------------------------------------------------- resolving IDs


def _any_branch(model: type[Record]) -> dict[str, Any]:
    if not hasattr(model, "_branch_code"):
        return {}
    return {"_branch_code__in": [Branch.main, Branch.trash]}


def _exact(model: type[R], text: str, by_key: bool) -> list[R]:
    found: list[R] = []
    if text.isdigit():
        found += model.filter(id=int(text), **_any_branch(model)).all()
    found += model.filter(uid=text, **_any_branch(model)).all()
    if by_key:
        latest = model.filter(key=text).order_by("-is_latest", "-id").first()
        if latest is not None:
            found.append(latest)
    return found


def _prefixed(model: type[R], text: str) -> list[R]:
    if len(text) < MIN_PREFIX or not text.isalnum():
        return []
    return model.filter(uid__startswith=text, **_any_branch(model)).order_by("id").limit(
        MAX_CANDIDATES + 1).all()


def describe_short(record: Any) -> str:
    """``run 4 (uid …)``-style text naming a candidate record."""
    kind = type(record).__name__.lower()
    label = getattr(record, "key", None) or getattr(record, "reference", None) or ""
    return f"{kind} {record.id} (uid {record.uid}{', ' + label if label else ''})"


def _unique(matches: list[Any], what: str, text: str,
            hint: str = "give more characters of the uid") -> Any:
    distinct = list({(type(m).__name__, m.id): m for m in matches}.values())
    if len(distinct) > 1 and len({(type(m), m.uid[:-VERSION_LEN]) for m in distinct}) == 1 \
            and hasattr(distinct[0], "is_latest"):  # versions of one record: the latest
        distinct = [max(distinct, key=lambda m: (m.is_latest, m.uid))]
    if not distinct:
        short = len(text) < MIN_PREFIX
        note = f" (uid prefixes need at least {MIN_PREFIX} characters)" if short else ""
        raise DoesNotExist(f"no {what} matches {text!r}{note}")
    if len(distinct) > 1:
        shown = ", ".join(describe_short(m) for m in distinct[:MAX_CANDIDATES])
        more = " and more" if len(distinct) > MAX_CANDIDATES else ""
        raise MultipleResultsFound(f"{text!r} matches several records: {shown}{more}; {hint}")
    return distinct[0]


def resolve(model: type[R], text: str, by_key: bool = False) -> R:
    """A record by numeric id, uid, uid prefix (≥ 4 chars) or, with ``by_key``, latest key.

    Exact matches (id, uid, key) win over prefix matches; a prefix matching only versions
    of one artifact or collection means its latest version; other ambiguity is an error
    naming the candidates.
    """
    matches = _exact(model, text, by_key) or _prefixed(model, text)
    return _unique(matches, model.__name__.lower(), text)  # type: ignore[no-any-return]


def resolve_run(text: str) -> Run:
    """A run by id, uid or uid prefix."""
    return resolve(Run, text)


def resolve_artifact(text: str) -> Artifact:
    """An artifact by id, uid, uid prefix or key (latest version)."""
    return resolve(Artifact, text, by_key=True)


def resolve_collection(text: str) -> Collection:
    """A collection by id, uid, uid prefix or key (latest version)."""
    return resolve(Collection, text, by_key=True)


def resolve_node(text: str) -> Run | Artifact:
    """A run or an artifact; ``run:ID`` / ``artifact:ID`` say which when ambiguous."""
    kind, _, rest = text.partition(":")
    if rest and kind == "run":
        return resolve_run(rest)
    if rest and kind == "artifact":
        return resolve_artifact(rest)
    matches: list[Run | Artifact] = [*_exact(Run, text, False), *_exact(Artifact, text, True)]
    if not matches:
        matches = [*_prefixed(Run, text), *_prefixed(Artifact, text)]
    return _unique(matches, "run or artifact", text,  # type: ignore[no-any-return]
                   "give more characters of the uid, or run:ID / artifact:ID")


def key_lookup(key: str | None) -> dict[str, str]:
    """Lookups for a ``--key`` filter: exact, or a prefix when it ends with ``*``."""
    if key is None:
        return {}
    if key.endswith("*"):
        return {"key__startswith": key[:-1]}
    return {"key": key}

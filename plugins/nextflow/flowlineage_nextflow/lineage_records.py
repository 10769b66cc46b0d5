"""Parse Nextflow lineage records (model ``lineage/v1beta1``) and ``.lineage`` stores.

Nextflow (>= 25.04, ``lineage.enabled = true``) writes each record to
``<store>/<key>/.data.json``: ``<runHash>`` (WorkflowRun), ``<runHash>#output``
(WorkflowOutput), ``<taskHash>`` (TaskRun), ``<taskHash>#output`` (TaskOutput),
``<taskHash>/<path>`` or ``<runHash>/<path>`` (FileOutput); a record's LID is ``lid://<key>``.
Three record shapes exist, all accepted: flat with ``type`` (25.04), flat with ``version`` and
``type`` or ``kind``, and the envelope ``{"version", "kind", "spec": {...}}`` (25.10 on).
``<store>/.history/<runHash>`` files each hold one TAB-separated line per run.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple, NoReturn, TypeVar

from flowlineage.errors import IngestionError

from .files import read_file
from .units import NA, Json, load_json

LINEAGE_VERSION = "lineage/v1beta1"
"""The only lineage model version Nextflow has written so far."""

_T = TypeVar("_T")
_LID = "lid://"


class Checksum(NamedTuple):
    """A checksum: ``value`` computed with ``algorithm`` (e.g. ``nextflow``) in ``mode``."""

    value: str
    algorithm: str
    mode: str | None


@dataclass(frozen=True, slots=True)
class DataPath:
    """A file outside the store (script, bin entry, external input), with its checksum."""

    path: str
    checksum: Checksum | None


@dataclass(frozen=True, slots=True)
class Parameter:
    """A workflow parameter or a task/workflow input or output: any JSON ``value``.

    Path values are LIDs of records (``lid://<taskHash>/<file>``) or, for files from outside
    the store, ``{"path", "checksum"}`` objects.
    """

    type: str | None
    name: str
    value: Json

    def lids(self) -> tuple[str, ...]:
        """Every ``lid://`` string in ``value``, in order."""
        found: list[str] = []
        pending = [self.value]
        while pending:
            item = pending.pop()
            if isinstance(item, str) and item.startswith(_LID):
                found.append(item)
            elif isinstance(item, list):
                pending.extend(reversed(item))
            elif isinstance(item, dict):
                pending.extend(reversed(item.values()))
        return tuple(found)


@dataclass(frozen=True, slots=True)
class Workflow:
    """The workflow code of a run: script files (main script first) and repository."""

    script_files: tuple[DataPath, ...]
    repository: str | None
    commit_id: str | None


@dataclass(frozen=True, slots=True)
class WorkflowRun:
    """A workflow run (key ``<runHash>``); ``metadata`` is missing in early records."""

    key: str
    session_id: str
    name: str
    workflow: Workflow | None
    params: tuple[Parameter, ...]
    config: dict[str, Json]
    metadata: dict[str, Json] | None


@dataclass(frozen=True, slots=True)
class TaskRun:
    """A task execution (key ``<taskHash>``); ``eval``/``module_id`` are missing before 25.10."""

    key: str
    session_id: str
    name: str
    code_checksum: Checksum | None
    script: str | None
    eval: dict[str, str] | None
    input: tuple[Parameter, ...]
    container: str | None
    conda: str | None
    spack: str | None
    architecture: str | None
    global_vars: dict[str, Json]
    bin_entries: tuple[DataPath, ...]
    workflow_run: str
    module_id: str | None


@dataclass(frozen=True, slots=True)
class FileOutput:
    """A file written by a task (``task_run`` set, ``source`` its TaskRun LID) or published by
    the workflow (``task_run`` None, ``source`` the task's FileOutput LID)."""

    key: str
    path: str
    checksum: Checksum | None
    source: str | None
    workflow_run: str
    task_run: str | None
    size: int
    created_at: datetime | None
    modified_at: datetime | None
    labels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TaskOutput:
    """The outputs of a task run (key ``<taskHash>#output``)."""

    key: str
    task_run: str
    workflow_run: str
    created_at: datetime | None
    output: tuple[Parameter, ...]
    labels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class WorkflowOutput:
    """The outputs of a workflow run (key ``<runHash>#output``)."""

    key: str
    workflow_run: str
    created_at: datetime | None
    output: tuple[Parameter, ...]


LineageRecord = WorkflowRun | TaskRun | FileOutput | TaskOutput | WorkflowOutput


@dataclass(frozen=True, slots=True)
class SkippedRecord:
    """A well-formed record this parser does not model (e.g. ``AgentRun``), and why."""

    key: str
    kind: str
    reason: str


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """One ``.history/<runHash>`` file.

    ``timestamp`` is aware when ``timezone`` (as written, e.g. ``UTC``, ``GMT+02:00``, ``CDT``)
    is UTC or a GMT offset, else naive local time.
    """

    run_hash: str
    timestamp: datetime | None
    timezone: str | None
    run_name: str | None
    session_id: str
    run_lid: str | None


@dataclass(frozen=True, slots=True)
class LineageStore:
    """A read store: records by key (sorted), skipped records, and run history."""

    root: str
    records: dict[str, LineageRecord]
    skipped: tuple[SkippedRecord, ...]
    history: tuple[HistoryEntry, ...]


class _Object:
    """Typed access to one JSON object; errors name ``source`` and the field's JSON path."""

    def __init__(self, value: Json, source: str, path: str) -> None:
        if not isinstance(value, dict):
            self._fail_at(source, path, f"expected an object, got {_type_name(value)}")
        self.data = value
        self.source = source
        self.path = path

    @staticmethod
    def _fail_at(source: str, path: str, reason: str) -> NoReturn:
        raise IngestionError(reason, source=source, field=path or None)

    def fail(self, name: str, reason: str) -> NoReturn:
        self._fail_at(self.source, self.field(name), reason)

    def field(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def _typed(self, name: str, kind: type[_T], label: str, required: bool) -> _T | None:
        value = self.data.get(name)
        if value is None:
            if required:
                self.fail(name, "required field missing" if name not in self.data else
                          "required field is null")
            return None
        if not isinstance(value, kind) or isinstance(value, bool):  # bool is an int
            self.fail(name, f"expected {label}, got {_type_name(value)}")
        return value

    def text(self, name: str) -> str:
        value = self._typed(name, str, "a string", required=True)
        assert value is not None
        return value

    def optional_text(self, name: str) -> str | None:
        return self._typed(name, str, "a string", required=False)

    def size(self, name: str) -> int:
        value = self._typed(name, int, "an integer", required=True)
        assert value is not None
        if value < 0:
            self.fail(name, f"cannot be negative: {value}")
        return value

    def mapping(self, name: str) -> dict[str, Json] | None:
        return self._typed(name, dict, "an object", required=False)

    def child(self, name: str) -> _Object | None:
        value = self.data.get(name)
        return None if value is None else _Object(value, self.source, self.field(name))

    def items(self, name: str, parse: Callable[[_Object], _T]) -> tuple[_T, ...]:
        values = self._typed(name, list, "an array", required=False) or []
        return tuple(
            parse(_Object(value, self.source, f"{self.field(name)}[{i}]"))
            for i, value in enumerate(values)
        )

    def strings(self, name: str) -> tuple[str, ...]:
        values = self._typed(name, list, "an array", required=False) or []
        return tuple(self._string(f"{name}[{i}]", value) for i, value in enumerate(values))

    def string_mapping(self, name: str) -> dict[str, str] | None:
        values = self.mapping(name)
        if values is None:
            return None
        return {key: self._string(f"{name}.{key}", value) for key, value in values.items()}

    def _string(self, name: str, value: Json) -> str:
        if not isinstance(value, str):
            self.fail(name, f"expected a string, got {_type_name(value)}")
        return value

    def moment(self, name: str) -> datetime | None:
        value = self.optional_text(name)
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.fail(name, f"not an ISO-8601 date-time: {value!r}")
        if moment.tzinfo is None:
            self.fail(name, f"date-time has no UTC offset: {value!r}")
        return moment


def _type_name(value: Json) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _checksum(obj: _Object) -> Checksum:
    return Checksum(obj.text("value"), obj.text("algorithm"), obj.optional_text("mode"))


def _optional_checksum(obj: _Object, name: str) -> Checksum | None:
    child = obj.child(name)
    return None if child is None else _checksum(child)


def _data_path(obj: _Object) -> DataPath:
    return DataPath(obj.text("path"), _optional_checksum(obj, "checksum"))


def _parameter(obj: _Object) -> Parameter:
    return Parameter(obj.optional_text("type"), obj.text("name"), obj.data.get("value"))


def _workflow(obj: _Object) -> Workflow:
    return Workflow(
        obj.items("scriptFiles", _data_path), obj.optional_text("repository"),
        obj.optional_text("commitId"),
    )


def _workflow_run(key: str, obj: _Object) -> WorkflowRun:
    workflow = obj.child("workflow")
    return WorkflowRun(
        key=key,
        session_id=obj.text("sessionId"),
        name=obj.text("name"),
        workflow=None if workflow is None else _workflow(workflow),
        params=obj.items("params", _parameter),
        config=obj.mapping("config") or {},
        metadata=obj.mapping("metadata"),
    )


def _task_run(key: str, obj: _Object) -> TaskRun:
    return TaskRun(
        key=key,
        session_id=obj.text("sessionId"),
        name=obj.text("name"),
        code_checksum=_optional_checksum(obj, "codeChecksum"),
        script=obj.optional_text("script"),
        eval=obj.string_mapping("eval"),
        input=obj.items("input", _parameter),
        container=obj.optional_text("container"),
        conda=obj.optional_text("conda"),
        spack=obj.optional_text("spack"),
        architecture=obj.optional_text("architecture"),
        global_vars=obj.mapping("globalVars") or {},
        bin_entries=obj.items("binEntries", _data_path),
        workflow_run=obj.text("workflowRun"),
        module_id=obj.optional_text("moduleId"),
    )


def _file_output(key: str, obj: _Object) -> FileOutput:
    return FileOutput(
        key=key,
        path=obj.text("path"),
        checksum=_optional_checksum(obj, "checksum"),
        source=obj.optional_text("source"),
        workflow_run=obj.text("workflowRun"),
        task_run=obj.optional_text("taskRun"),
        size=obj.size("size"),
        created_at=obj.moment("createdAt"),
        modified_at=obj.moment("modifiedAt"),
        labels=obj.strings("labels"),
    )


def _task_output(key: str, obj: _Object) -> TaskOutput:
    return TaskOutput(
        key=key,
        task_run=obj.text("taskRun"),
        workflow_run=obj.text("workflowRun"),
        created_at=obj.moment("createdAt"),
        output=obj.items("output", _parameter),
        labels=obj.strings("labels"),
    )


def _workflow_output(key: str, obj: _Object) -> WorkflowOutput:
    return WorkflowOutput(
        key=key,
        workflow_run=obj.text("workflowRun"),
        created_at=obj.moment("createdAt"),
        output=obj.items("output", _parameter),
    )


_PARSERS: dict[str, Callable[[str, _Object], LineageRecord]] = {
    "WorkflowRun": _workflow_run,
    "TaskRun": _task_run,
    "FileOutput": _file_output,
    "TaskOutput": _task_output,
    "WorkflowOutput": _workflow_output,
}


def parse_lineage_record(
    data: str | bytes, *, key: str, source: str
) -> LineageRecord | SkippedRecord:
    """Parse one record (any of the three shapes, compact or pretty-printed JSON).

    ``key`` is the record's store key (its LID without ``lid://``). Kinds or model versions
    this parser does not know give a :class:`SkippedRecord`; malformed JSON, wrong field
    types and missing required fields raise :class:`~flowlineage.errors.IngestionError`.
    """
    top = _Object(load_json(data, source=source), source, "")
    version = top.optional_text("version")
    kind = top.optional_text("kind") or top.optional_text("type")
    if kind is None:
        top.fail("kind", "record has no 'kind' (or 'type') field")
    if version is not None and version != LINEAGE_VERSION:
        return SkippedRecord(key, kind, f"unsupported lineage model version {version!r}")
    parse = _PARSERS.get(kind)
    if parse is None:
        return SkippedRecord(key, kind, f"unsupported record kind {kind!r}")
    if "spec" not in top.data:
        return parse(key, top)
    spec = top.child("spec")
    if spec is None:
        top.fail("spec", "record spec is null")
    return parse(key, spec)


def parse_view_output(data: str | bytes, *, source: str) -> tuple[Parameter, ...]:
    """Parse the JSON array printed by ``nextflow lineage view lid://<runHash>#output``."""
    values = load_json(data, source=source)
    if not isinstance(values, list):
        raise IngestionError(f"expected an array, got {_type_name(values)}", source=source)
    return tuple(
        _parameter(_Object(value, source, f"[{i}]")) for i, value in enumerate(values)
    )


_HISTORY_TIME = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}) (\S+)")
_GMT_OFFSET = re.compile(r"(?:GMT|UTC)([+-])([0-9]{1,2}):?([0-9]{2})")


def _zone(name: str) -> timezone | None:
    if name in ("UTC", "GMT", "UT", "Z"):
        return UTC
    match = _GMT_OFFSET.fullmatch(name)
    if match is None:
        return None
    offset = timedelta(hours=int(match[2]), minutes=int(match[3]))
    return timezone(-offset if match[1] == "-" else offset)


def _history_entry(data: bytes, run_hash: str, source: str) -> HistoryEntry:
    def fail(field: str | None, reason: str) -> NoReturn:
        raise IngestionError(reason, source=source, line=1, field=field)

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail(None, f"not UTF-8: byte 0x{data[exc.start]:02x} at byte offset {exc.start}")
    line = text.removesuffix("\n").removesuffix("\r")
    if "\n" in line or "\x00" in line:
        fail(None, "expected one line without NUL bytes")
    columns = line.split("\t")
    if len(columns) != 4:
        fail(None, f"expected 4 TAB-separated fields (timestamp, run name, session id, "
                   f"run LID), found {len(columns)}")
    stamp, run_name, session_id, run_lid = columns
    timestamp = zone = None
    if stamp != NA:
        match = _HISTORY_TIME.fullmatch(stamp)
        if match is None:
            fail("timestamp", f"not a 'yyyy-MM-dd HH:mm:ss zone' time: {stamp!r}")
        try:
            timestamp = datetime.fromisoformat(match[1]).replace(tzinfo=_zone(match[2]))
        except ValueError:
            fail("timestamp", f"not a valid date: {stamp!r}")
        zone = match[2]
    try:
        uuid.UUID(session_id)
    except ValueError:
        fail("sessionId", f"not a UUID: {session_id!r}")
    if run_lid != NA and not run_lid.startswith(_LID):
        fail("runLid", f"not a lid:// reference: {run_lid!r}")
    return HistoryEntry(
        run_hash, timestamp, zone, None if run_name == NA else run_name, session_id,
        None if run_lid == NA else run_lid,
    )


def read_lineage_store(path: str | os.PathLike[str]) -> LineageStore:
    """Read every record of a lineage store directory, or one record file.

    A directory is walked for ``**/.data.json`` (key: the record's directory relative to the
    store, with ``/``) and ``.history/*`` files. A single file's key is its directory name
    for a ``.data.json`` file, else its name without extension.
    """
    root = Path(path)
    records: dict[str, LineageRecord] = {}
    skipped: list[SkippedRecord] = []
    history: list[HistoryEntry] = []
    if root.is_dir():
        files: list[tuple[str, Path]] = []
        for directory, subdirectories, names in os.walk(root):
            here = Path(directory)
            if here == root:
                subdirectories[:] = [name for name in subdirectories if name != ".history"]
            elif ".data.json" in names:
                files.append((here.relative_to(root).as_posix(), here / ".data.json"))
        if (root / ".data.json").is_file():
            raise IngestionError("record file at the store root has no key",
                                 source=str(root / ".data.json"))
        history_dir = root / ".history"
        if history_dir.is_dir():
            history = [
                _history_entry(read_file(entry, "lineage history file"), entry.name,
                               str(entry))
                for entry in sorted(history_dir.iterdir())
                if not entry.is_dir()  # a FIFO or device among them is refused, not skipped
            ]
    elif root.exists():  # a record file (a FIFO or device is refused when read)
        files = [(root.parent.name if root.name == ".data.json" else root.stem, root)]
    else:
        raise IngestionError("no such file or directory", source=str(root))
    for key, file in sorted(files):
        parsed = parse_lineage_record(read_file(file, "lineage record"), key=key, source=str(file))
        if isinstance(parsed, SkippedRecord):
            skipped.append(parsed)
        else:
            records[key] = parsed
    return LineageStore(str(root), records, tuple(skipped), tuple(history))

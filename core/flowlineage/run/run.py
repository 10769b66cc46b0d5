"""``Run``: one execution of a transform, with its status, features, related records and
lineage; and the current run, typed."""

from __future__ import annotations

import os
from datetime import datetime
from types import TracebackType
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Mapped

from ..db import tables
from ..db.engine import get_instance
from ..db.enums import RunStatus, status_lookup
from ..db.query import QuerySet
from ..db.record import LinkedSet, Record, entity, saved_id, through
from ..db.schema import Base
from ..db.upserts import feature_values, set_run_features
from ..errors import NotConnected, ValidationError
from ..lineage.walk import Lineage, walk
from ..render.formats import view_lineage
from ..tracking import state
from ..tracking.ending import end_run, status_after
from .describe import describe_run
from .labels import Project, ULabel
from .transform import Transform


class Run(Record, Base):
    """One execution of a transform (fields as seed ``lamindb.Run``)."""

    __table__ = tables.run
    _fl_lookup_alias = {"status": ("_status_code", status_lookup)}
    _fl_feature_table = (tables.run_feature_value, "run_id")  # features__<name> lookups
    _fl_computed_columns = ("status",)  # extra DataFrame columns

    id: Mapped[int]
    uid: Mapped[str]
    name: Mapped[str | None]
    description: Mapped[str | None]
    transform_id: Mapped[int]
    entrypoint: Mapped[str | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    params: Mapped[dict[str, Any] | None]
    reference: Mapped[str | None]
    reference_type: Mapped[str | None]
    cli_args: Mapped[str | None]
    report_id: Mapped[int | None]
    environment_id: Mapped[int | None]
    initiated_by_run_id: Mapped[int | None]
    plan_id: Mapped[int | None]
    created_by: Mapped[str | None]
    _status_code: Mapped[int]
    created_at: Mapped[datetime]

    def __init__(self, transform: Transform | None = None, **fields: Any) -> None:
        """An unsaved run, e.g. ``Run(transform, params={...}, plan=artifact)``; related
        records (``initiated_by_run``, ``plan``, ``report``, ``environment``) by object."""
        if transform is not None:
            fields["transform_id"] = transform.id
        for relation in ("initiated_by_run", "plan", "report", "environment"):
            related = fields.pop(relation, None)
            if related is not None:
                fields[f"{relation}_id"] = saved_id(related)
        if "status" in fields:
            fields["_status_code"] = int(RunStatus.of(fields.pop("status")))
        for key, value in fields.items():
            if not hasattr(type(self), key):
                raise ValidationError(f"Run has no field {key!r}")
            setattr(self, key, value)

    @property
    def status(self) -> str:
        """The status name: scheduled, restarted, started, completed, errored or aborted."""
        return RunStatus.name_of(self._status_code)

    @status.setter
    def status(self, value: str | int) -> None:
        self._status_code = int(RunStatus.of(value))

    @property
    def transform(self) -> Transform:
        """The transform this run executed."""
        return Transform.get(self.transform_id)

    @property
    def initiated_by_run(self) -> Run | None:
        """The run that started this one (a flow for a task, a workflow for a job)."""
        rid = self.initiated_by_run_id
        return None if rid is None else Run.get(rid)

    @property
    def initiated_runs(self) -> QuerySet[Run]:
        """Runs this run started."""
        return Run.filter(initiated_by_run_id=self.id)

    @property
    def input_artifacts(self) -> QuerySet[Any]:
        """Artifacts this run read."""
        return through(entity(tables.artifact), tables.run_input_artifact, "run_id",
                       "artifact_id", self.id)

    @property
    def output_artifacts(self) -> QuerySet[Any]:
        """Artifacts this run created."""
        return entity(tables.artifact).filter(run_id=self.id)  # type: ignore[no-any-return]

    @property
    def recreated_artifacts(self) -> QuerySet[Any]:
        """Artifacts this run saved again with content identical to an existing one."""
        return through(entity(tables.artifact), tables.artifact_recreating_run, "run_id",
                       "artifact_id", self.id)

    def query_output_artifacts(self, include_recreated: bool = True) -> QuerySet[Any]:
        """Artifacts this run created, and those it recreated when ``include_recreated``."""
        if not include_recreated:
            return self.output_artifacts
        link = tables.artifact_recreating_run
        recreated = select(link.c.artifact_id).where(link.c.run_id == self.id)
        artifact = entity(tables.artifact)
        return artifact.filter(  # type: ignore[no-any-return]
            (artifact.run_id == self.id) | artifact.id.in_(recreated))

    @property
    def input_collections(self) -> QuerySet[Any]:
        """Collections this run read."""
        return through(entity(tables.collection), tables.run_input_collection, "run_id",
                       "collection_id", self.id)

    @property
    def output_collections(self) -> QuerySet[Any]:
        """Collections this run created."""
        return entity(tables.collection).filter(run_id=self.id)  # type: ignore[no-any-return]

    @property
    def recreated_collections(self) -> QuerySet[Any]:
        """Collections this run saved again with the same members."""
        return through(entity(tables.collection), tables.collection_recreating_run, "run_id",
                       "collection_id", self.id)

    @property
    def projects(self) -> LinkedSet:
        """Projects this run belongs to (``run.projects.add(project)``)."""
        return through(Project, tables.run_project, "run_id", "project_id", saved_id(self))

    @property
    def ulabels(self) -> LinkedSet:
        """Labels of this run (``run.ulabels.add(label)``)."""
        return through(ULabel, tables.run_ulabel, "run_id", "ulabel_id", saved_id(self))

    @property
    def report(self) -> Any:
        """The run's report artifact (its captured stdout and stderr), if any."""
        return _artifact(self.report_id)

    @property
    def environment(self) -> Any:
        """The ``requirements.txt`` artifact of the Python packages the run used, if any."""
        return _artifact(self.environment_id)

    @property
    def plan(self) -> Any:
        """The (agent) plan artifact for this run, if any."""
        return _artifact(self.plan_id)

    @property
    def features(self) -> RunFeatures:
        """Typed feature values of this run: ``run.features.set_values({...})``."""
        return RunFeatures(self.id)

    def upstream(self, depth: int | None = None) -> Lineage:
        """Every run and artifact this run came from (one recursive query)."""
        return walk("run", self.id, "upstream", depth)

    def downstream(self, depth: int | None = None) -> Lineage:
        """Every run and artifact derived from this run (one recursive query)."""
        return walk("run", self.id, "downstream", depth)

    def view_lineage(self, format: str = "text", path: str | os.PathLike[str] | None = None,
                     direction: str = "upstream", depth: int | None = None) -> str:
        """The lineage as text, mermaid, dot, json or html; also written to ``path`` if given."""
        return view_lineage(self, format, path, direction, depth)

    def describe(self, print_: bool = True) -> str | None:
        """Print a readable summary (transform, status, times, params, inputs, outputs) and
        return None; ``print_=False`` returns it instead."""
        return describe_run(self, print_)

    def delete(self) -> None:
        """Delete the run; runs it initiated keep existing without a parent, artifacts and
        collections it created stay (their ``run`` becomes None)."""
        run_id = saved_id(self)
        with get_instance().write() as s:
            s.execute(update(Run).where(Run.initiated_by_run_id == run_id)
                      .values(initiated_by_run_id=None))
            s.execute(delete(tables.run).where(tables.run.c.id == run_id))
        state.close_run(self)

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        end_run(self, status_after(exc_type, exc))


class RunFeatures:
    """Feature values of one run, stored typed in ``run_feature_value``."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id

    def set_values(self, values: dict[str, Any]) -> None:
        """Set (insert or replace) feature values; numbers stay queryable as numbers."""
        set_run_features({self.run_id: values})

    def get_values(self) -> dict[str, Any]:
        """All feature values of the run, by name."""
        t = tables.run_feature_value
        stmt = select(t.c.name, t.c.dtype, t.c.value).where(t.c.run_id == self.run_id)
        with get_instance().read() as s:
            return feature_values(s.execute(stmt).tuples())


def _artifact(artifact_id: int | None) -> Any:
    return None if artifact_id is None else entity(tables.artifact).get(artifact_id)


def get_current_run() -> Run | None:
    """The run artifacts are attributed to here: this context's, else the process's, else
    (in a process that owns none) the run ``track()`` named in ``FLOWLINEAGE_RUN``."""
    current: Run | None = state.current_run()
    uid = state.inherited_run_uid() if current is None else None
    return current if uid is None else _inherited_run(uid)


def _inherited_run(uid: str) -> Run | None:
    """The run with this uid, looked up once per instance (None: another instance's)."""
    try:
        caches = get_instance().caches
    except NotConnected:
        return None
    key = f"{state.RUN_ENV}={uid}"
    if key not in caches:
        caches[key] = Run.filter(uid=uid).first()
    found: Run | None = caches[key]
    return found


def use_run(run: Run | None) -> Any:
    """Make ``run`` current in this context (thread / task) for a ``with`` block."""
    return state.use_run(run)

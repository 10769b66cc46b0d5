"""The lineage model (DESIGN §2): tables, link tables and navigation between records.

Columns and relations live here; behaviour that needs storage or tracking lives in the
modules named by each mixin (``run_api``, ``artifact_api``, ``collection_api``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import Mapped, mapped_column

from . import ids
from .artifact_api import ArtifactMixin
from .collection_api import CollectionMixin
from .query import QuerySet
from .record import Record
from .run_api import RunMixin
from .schema import Base, JSONType, UTCDateTime, utcnow

# ---------------------------------------------------------------- link tables


def _link(name: str, left: str, right: str, *extra: Column[Any]) -> Table:
    return Table(
        name,
        Base.metadata,
        Column(f"{left}_id", ForeignKey(f"{left}.id", ondelete="CASCADE"), primary_key=True),
        Column(f"{right}_id", ForeignKey(f"{right}.id", ondelete="CASCADE"), primary_key=True,
               index=True),
        *extra,
    )


run_input_artifact = _link(
    "run_input_artifact", "run", "artifact", Column("created_at", UTCDateTime, default=utcnow)
)
"""Artifacts a run read (``run.input_artifacts`` / ``artifact.input_of_runs``)."""
artifact_recreating_run = _link(
    "artifact_recreating_run", "artifact", "run", Column("created_at", UTCDateTime, default=utcnow)
)
"""Runs that saved identical content again (``artifact.recreating_runs``)."""
run_input_collection = _link("run_input_collection", "run", "collection")
collection_recreating_run = _link("collection_recreating_run", "collection", "run")
collection_artifact = _link(
    "collection_artifact", "collection", "artifact", Column("order", Integer, nullable=False)
)
"""Members of a collection, with their position."""
run_project = _link("run_project", "run", "project")
transform_project = _link("transform_project", "transform", "project")
artifact_project = _link("artifact_project", "artifact", "project")
collection_project = _link("collection_project", "collection", "project")
run_ulabel = _link("run_ulabel", "run", "ulabel")
artifact_ulabel = _link("artifact_ulabel", "artifact", "ulabel")
collection_ulabel = _link("collection_ulabel", "collection", "ulabel")


def _through(model: type[Record], link: Table, own_col: str, other_col: str,
             own_id: int) -> QuerySet[Any]:
    stmt = select(model).join(link, link.c[other_col] == model.id).where(
        link.c[own_col] == own_id
    )
    return QuerySet(model, stmt)


# ---------------------------------------------------------------- entities


class Storage(Record, Base):
    """A storage root: a local folder or ``s3://bucket/prefix``."""

    __tablename__ = "storage"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(12), unique=True, default=lambda: ids.base62(12))
    root: Mapped[str] = mapped_column(String(1024), unique=True)
    type: Mapped[str] = mapped_column(String(16))
    region: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Project(Record, Base):
    """A project label for runs, transforms, artifacts and collections."""

    __tablename__ = "project"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(12), unique=True, default=lambda: ids.base62(12))
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def runs(self) -> QuerySet[Run]:
        """Runs in this project."""
        return _through(Run, run_project, "project_id", "run_id", self.id)

    @property
    def artifacts(self) -> QuerySet[Artifact]:
        """Artifacts in this project."""
        return _through(Artifact, artifact_project, "project_id", "artifact_id", self.id)


class ULabel(Record, Base):
    """A free-form label (lamindb's ULabel)."""

    __tablename__ = "ulabel"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(8), unique=True, default=lambda: ids.base62(8))
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Transform(Record, Base):
    """The code that runs: a script, flow, task, rule, process or pipeline."""

    __tablename__ = "transform"
    __table_args__ = (
        UniqueConstraint("reference_type", "reference"),
        Index(None, "key", "is_latest"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(16), unique=True, default=lambda: ids.new_uid(12, True))
    key: Mapped[str] = mapped_column(String(1024))
    version: Mapped[str | None] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(20), default="script")
    source_code: Mapped[str | None] = mapped_column(Text)
    hash: Mapped[str | None] = mapped_column(String(64), index=True)
    reference: Mapped[str | None] = mapped_column(String(255))
    reference_type: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    is_latest: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def runs(self) -> QuerySet[Run]:
        """Runs of this transform."""
        return Run.filter(transform_id=self.id)

    @property
    def versions(self) -> QuerySet[Transform]:
        """Every version of this transform (same uid stem), oldest first."""
        stem = self.uid[:12]
        return Transform.filter(
            Transform.uid >= stem, Transform.uid < ids.family_upper_bound(stem)
        ).order_by("uid")

    @property
    def projects(self) -> QuerySet[Project]:
        """Projects this transform belongs to."""
        return _through(Project, transform_project, "transform_id", "project_id", self.id)


STATUS_CODES = {
    "scheduled": -3,
    "restarted": -2,
    "started": -1,
    "completed": 0,
    "errored": 1,
    "aborted": 2,
}
STATUS_NAMES = {code: name for name, code in STATUS_CODES.items()}


def status_code(status: str | int) -> int:
    """The ``_status_code`` of a status name (or a code, passed through)."""
    if isinstance(status, int):
        return status
    try:
        return STATUS_CODES[status]
    except KeyError:
        from .errors import ValidationError

        raise ValidationError(
            f"unknown run status {status!r}; use one of {', '.join(STATUS_CODES)}"
        ) from None


def _status_lookup(value: Any) -> Any:
    if isinstance(value, list | tuple | set):
        return [status_code(v) for v in value]
    return status_code(value)


class Run(RunMixin, Record, Base):
    """One execution of a transform (fields as seed ``lamindb.Run``)."""

    __tablename__ = "run"
    __table_args__ = (UniqueConstraint("reference_type", "reference"),)
    _fl_lookup_alias = {"status": ("_status_code", _status_lookup)}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(16), unique=True, default=lambda: ids.base62(16))
    name: Mapped[str | None] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    transform_id: Mapped[int] = mapped_column(ForeignKey("transform.id"), index=True)
    entrypoint: Mapped[str | None] = mapped_column(String(255))
    started_at: Mapped[datetime | None] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    params: Mapped[dict[str, Any] | None]
    reference: Mapped[str | None] = mapped_column(String(255), index=True)
    reference_type: Mapped[str | None] = mapped_column(String(64))
    cli_args: Mapped[str | None] = mapped_column(Text)
    report_id: Mapped[int | None] = mapped_column(ForeignKey("artifact.id", use_alter=True))
    environment_id: Mapped[int | None] = mapped_column(ForeignKey("artifact.id", use_alter=True))
    initiated_by_run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id"), index=True)
    created_by: Mapped[str | None] = mapped_column(String(255))
    _status_code: Mapped[int] = mapped_column(SmallInteger, default=-3, index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RunFeatureValue(Base):
    """A typed feature value of a run (``run.features.set_values``)."""

    __tablename__ = "run_feature_value"
    __table_args__ = (UniqueConstraint("run_id", "name"), Index(None, "name", "value_num"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    dtype: Mapped[str] = mapped_column(String(32))
    value: Mapped[Any] = mapped_column(JSONType)
    value_num: Mapped[float | None] = mapped_column(Float)


class Artifact(ArtifactMixin, Record, Base):
    """A file, folder or in-memory object saved to storage, identified by its content hash."""

    __tablename__ = "artifact"
    __table_args__ = (UniqueConstraint("hash"), Index(None, "key", "is_latest"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(20), unique=True)
    key: Mapped[str | None] = mapped_column(String(1024))
    description: Mapped[str | None] = mapped_column(Text)
    suffix: Mapped[str] = mapped_column(String(64), default="")
    kind: Mapped[str | None] = mapped_column(String(32))
    otype: Mapped[str | None] = mapped_column(String(64))
    size: Mapped[int | None] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(128))
    _hash_type: Mapped[str] = mapped_column(String(32))
    n_files: Mapped[int | None] = mapped_column(Integer)
    storage_id: Mapped[int] = mapped_column(ForeignKey("storage.id"), index=True)
    _storage_key: Mapped[str] = mapped_column(String(1024))
    _key_is_virtual: Mapped[bool] = mapped_column(Boolean, default=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id", ondelete="SET NULL"),
                                                index=True)
    version: Mapped[str | None] = mapped_column(String(64))
    is_latest: Mapped[bool] = mapped_column(Boolean, default=True)
    _branch_code: Mapped[int] = mapped_column(SmallInteger, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Collection(CollectionMixin, Record, Base):
    """An ordered, versioned set of artifacts (seed ``lamindb.Collection``)."""

    __tablename__ = "collection"
    __table_args__ = (
        UniqueConstraint("hash"),
        UniqueConstraint("reference_type", "reference"),
        Index(None, "key", "is_latest"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    uid: Mapped[str] = mapped_column(String(20), unique=True)
    key: Mapped[str | None] = mapped_column(String(1024))
    description: Mapped[str | None] = mapped_column(Text)
    hash: Mapped[str] = mapped_column(String(128))
    meta_artifact_id: Mapped[int | None] = mapped_column(ForeignKey("artifact.id"))
    reference: Mapped[str | None] = mapped_column(String(255))
    reference_type: Mapped[str | None] = mapped_column(String(64))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id", ondelete="SET NULL"),
                                                index=True)
    version: Mapped[str | None] = mapped_column(String(64))
    is_latest: Mapped[bool] = mapped_column(Boolean, default=True)
    _branch_code: Mapped[int] = mapped_column(SmallInteger, default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

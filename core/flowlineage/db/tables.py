"""Every table of the lineage model (DESIGN §2) as SQLAlchemy Core tables.

Entity classes (``run/``, ``artifact/``, ``collection/``) map onto these tables; bulk
upserts, lineage walks and migrations work on the tables alone.
"""

from __future__ import annotations

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
)

from . import ids
from .enums import Branch, RunStatus
from .schema import Base, JSONType, UTCDateTime, utcnow

metadata = Base.metadata


def _uid(length: int, versioned: bool = False) -> Column[str]:
    if versioned:
        return Column("uid", String(length + ids.VERSION_LEN), unique=True, nullable=False,
                      default=lambda: ids.new_uid(length, True))
    return Column("uid", String(length), unique=True, nullable=False,
                  default=lambda: ids.base62(length))


def _created_at() -> Column[Any]:
    return Column("created_at", UTCDateTime, nullable=False, default=utcnow)


def _id() -> Column[int]:
    return Column("id", Integer, primary_key=True)


# ---------------------------------------------------------------- entities

storage = Table(
    "storage", metadata, _id(), _uid(ids.STORAGE_UID_LEN),
    Column("root", String(1024), unique=True, nullable=False),
    Column("type", String(16), nullable=False),
    Column("region", String(64)),
    Column("description", Text),
    _created_at(),
)

project = Table(
    "project", metadata, _id(), _uid(ids.PROJECT_UID_LEN),
    Column("name", String(255), unique=True, nullable=False),
    Column("description", Text),
    _created_at(),
)

ulabel = Table(
    "ulabel", metadata, _id(), _uid(ids.ULABEL_UID_LEN),
    Column("name", String(255), unique=True, nullable=False),
    Column("description", Text),
    _created_at(),
)

transform = Table(
    "transform", metadata, _id(), _uid(ids.TRANSFORM_STEM_LEN, versioned=True),
    Column("key", String(1024), nullable=False),
    Column("version", String(64)),
    Column("type", String(20), nullable=False, default="script"),
    Column("source_code", Text),
    Column("hash", String(64), index=True),
    Column("reference", String(255)),
    Column("reference_type", String(64)),
    Column("description", Text),
    Column("is_latest", Boolean, nullable=False, default=True),
    Column("created_by", String(255)),
    _created_at(),
    UniqueConstraint("reference_type", "reference"),
    Index(None, "key", "is_latest"),
)

run = Table(
    "run", metadata, _id(), _uid(ids.RUN_UID_LEN),
    Column("name", String(255)),
    Column("description", Text),
    Column("transform_id", ForeignKey("transform.id"), nullable=False, index=True),
    Column("entrypoint", String(255)),
    Column("started_at", UTCDateTime, default=utcnow),
    Column("finished_at", UTCDateTime),
    Column("heartbeat_at", UTCDateTime),
    Column("params", JSONType),
    Column("reference", String(255), index=True),
    Column("reference_type", String(64)),
    Column("cli_args", Text),
    Column("report_id", ForeignKey("artifact.id", use_alter=True)),
    Column("environment_id", ForeignKey("artifact.id", use_alter=True)),
    Column("initiated_by_run_id", ForeignKey("run.id"), index=True),
    Column("plan_id", ForeignKey("artifact.id", use_alter=True)),
    Column("created_by", String(255)),
    Column("source_digest", String(32)),  # of the record last written; unchanged: skipped
    Column("_status_code", SmallInteger, nullable=False, default=int(RunStatus.scheduled),
           index=True),
    _created_at(),
    UniqueConstraint("reference_type", "reference"),
)

run_feature_value = Table(
    "run_feature_value", metadata, _id(),
    Column("run_id", ForeignKey("run.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("dtype", String(32), nullable=False),
    Column("value", JSONType, nullable=False),
    Column("value_num", Float),
    UniqueConstraint("run_id", "name"),
    Index(None, "name", "value_num"),
)
"""Typed feature values of a run (``run.features.set_values``)."""

artifact = Table(
    "artifact", metadata, _id(),
    Column("uid", String(ids.VERSIONED_STEM_LEN + ids.VERSION_LEN), unique=True,
           nullable=False),
    Column("key", String(1024)),
    Column("description", Text),
    Column("suffix", String(64), nullable=False, default=""),
    Column("kind", String(32)),
    Column("otype", String(64)),
    Column("size", BigInteger),
    Column("hash", String(128), nullable=False),
    Column("_hash_type", String(32), nullable=False),
    Column("n_files", Integer),
    Column("storage_id", ForeignKey("storage.id"), nullable=False, index=True),
    Column("_storage_key", String(1024), nullable=False),
    Column("_key_is_virtual", Boolean, nullable=False, default=True),
    Column("run_id", ForeignKey("run.id", ondelete="SET NULL"), index=True),
    Column("version", String(64)),
    Column("is_latest", Boolean, nullable=False, default=True),
    Column("_branch_code", SmallInteger, nullable=False, default=int(Branch.main)),
    _created_at(),
    Column("updated_at", UTCDateTime, nullable=False, default=utcnow, onupdate=utcnow),
    UniqueConstraint("hash"),
    Index(None, "key", "is_latest"),
)

collection = Table(
    "collection", metadata, _id(),
    Column("uid", String(ids.VERSIONED_STEM_LEN + ids.VERSION_LEN), unique=True,
           nullable=False),
    Column("key", String(1024)),
    Column("description", Text),
    Column("hash", String(128), nullable=False),
    Column("meta_artifact_id", ForeignKey("artifact.id")),
    Column("reference", String(255)),
    Column("reference_type", String(64)),
    Column("run_id", ForeignKey("run.id", ondelete="SET NULL"), index=True),
    Column("version", String(64)),
    Column("is_latest", Boolean, nullable=False, default=True),
    Column("_branch_code", SmallInteger, nullable=False, default=int(Branch.main)),
    _created_at(),
    UniqueConstraint("hash"),
    UniqueConstraint("reference_type", "reference"),
    Index(None, "key", "is_latest"),
)

artifact_location = Table(
    "artifact_location", metadata, _id(),
    Column("artifact_id", ForeignKey("artifact.id", ondelete="CASCADE"), nullable=False,
           index=True),
    Column("host", String(255)),
    Column("path", String(2048), nullable=False),
    Column("run_id", ForeignKey("run.id", ondelete="SET NULL"), index=True),
    Column("size", BigInteger),
    Column("mtime", Float),
    Column("recorded_at", UTCDateTime, nullable=False, default=utcnow),
    UniqueConstraint("path", "host", "artifact_id"),
)
"""Every place an artifact's bytes were seen: an absolute local path (symlinks resolved)
with its ``host``, or a full URI (``s3://bucket/key``, ``host`` None); the run that wrote
them there (None when the place was only read), their size and mtime then."""

# ---------------------------------------------------------------- link tables


def _link(name: str, left: str, right: str, *extra: Column[Any]) -> Table:
    return Table(
        name,
        metadata,
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
run_input_run = Table(
    "run_input_run", metadata,
    Column("run_id", ForeignKey("run.id", ondelete="CASCADE"), primary_key=True),
    Column("input_run_id", ForeignKey("run.id", ondelete="CASCADE"), primary_key=True,
           index=True),
)
"""Runs whose in-memory result a run used (Prefect's ``task_inputs``): result edges."""
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

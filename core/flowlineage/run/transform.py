"""``Transform``: the code that runs, with its versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Mapped, column_property, make_transient_to_detached, synonym

from ..db import ids, tables
from ..db.engine import get_instance
from ..db.query import QuerySet
from ..db.record import Record, entity, through
from ..db.schema import Base, utcnow
from ..errors import ValidationError
from ..storage.hashing import hash_bytes
from .labels import Project


class Transform(Record, Base):
    """The code that runs: a script, notebook, pipeline, flow, task, rule, process or function.

    ``kind`` is lamindb's name for what older lamindb (and the column) call ``type``; both
    spellings work, as do ``name=`` for ``key=``, in the constructor and in lookups.
    """

    __table__ = tables.transform

    id: Mapped[int]
    uid: Mapped[str]
    key: Mapped[str]
    version: Mapped[str | None]
    kind: Mapped[str] = column_property(tables.transform.c.type)
    type: Mapped[str] = synonym("kind")
    source_code: Mapped[str | None]
    hash: Mapped[str | None]
    reference: Mapped[str | None]
    reference_type: Mapped[str | None]
    description: Mapped[str | None]
    is_latest: Mapped[bool]
    created_by: Mapped[str | None]
    created_at: Mapped[datetime]
    _fl_lookup_alias = {"name": ("key", str)}

    def __init__(self, key: str | None = None, version: str | None = None,
                 kind: str | None = None, **fields: Any) -> None:
        """An unsaved transform, e.g. ``Transform(key="Cell Ranger", version="7.2.0",
        kind="pipeline")``; the older ``name=`` and ``type=`` are accepted too."""
        key = key or fields.pop("name", None)
        kind = kind or fields.pop("type", None) or "script"
        if not key:
            raise ValidationError("Transform needs a key= (or the older name=)")
        for field in fields:
            if field not in self.__mapper__.attrs:
                raise ValidationError(f"Transform has no field {field!r}")
        super().__init__(key=key, version=version, kind=kind, **fields)
        if self.uid is None:
            self.uid = ids.new_uid(ids.TRANSFORM_STEM_LEN, True)
        if self.is_latest is None:
            self.is_latest = True

    def save(self) -> Transform:
        """Save a new transform as ``get_or_create_transform`` would: the same key, kind,
        version and source returns the saved one; otherwise a new version of the key."""
        if self.id is not None:
            return super().save()
        saved = get_or_create_transform(
            self.key, self.kind, self.source_code, self.version, self.reference,
            self.reference_type, self.description)
        for attr in self.__mapper__.column_attrs:
            setattr(self, attr.key, getattr(saved, attr.key))
        make_transient_to_detached(self)
        return self

    @property
    def name(self) -> str:
        """The key (lamindb's older name of a transform)."""
        return self.key

    @property
    def runs(self) -> QuerySet[Any]:
        """Runs of this transform."""
        return entity(tables.run).filter(transform_id=self.id)  # type: ignore[no-any-return]

    @property
    def versions(self) -> QuerySet[Transform]:
        """Every version of this transform (same uid stem), oldest first."""
        stem = self.uid[: ids.TRANSFORM_STEM_LEN]
        return Transform.filter(
            Transform.uid >= stem, Transform.uid < ids.family_upper_bound(stem)
        ).order_by("uid")

    @property
    def projects(self) -> QuerySet[Project]:
        """Projects this transform belongs to."""
        return through(Project, tables.transform_project, "transform_id", "project_id", self.id)


def get_or_create_transform(
    key: str,
    type: str = "script",
    source_code: str | None = None,
    version: str | None = None,
    reference: str | None = None,
    reference_type: str | None = None,
    description: str | None = None,
    uid: str | None = None,
) -> Transform:
    """The transform with this key and source; changed source makes a new version.

    A transform is identified by ``key`` plus the hash of its source (or ``version`` when
    there is no source); the newest version of a key has ``is_latest``. With ``uid`` (a
    full uid or its 12-character stem) the family is that uid's instead of the key's, so
    it survives renames: a new key or source becomes the family's next version.
    """
    digest = hash_bytes(source_code.encode()) if source_code is not None else None
    in_family: ColumnElement[bool]
    if uid is not None:
        stem = uid[: ids.TRANSFORM_STEM_LEN]
        in_family = (Transform.uid >= stem) & (Transform.uid < ids.family_upper_bound(stem))
    else:
        in_family = Transform.key == key

    def same(tf: Transform) -> bool:
        return (tf.hash == digest and tf.version == version and tf.kind == type
                and tf.key == key)

    inst = get_instance()
    with inst.read() as s:
        family = list(s.scalars(select(Transform).where(in_family).order_by(Transform.uid)))
    found = next((tf for tf in family if same(tf)), None)
    if found is not None:
        return found
    with inst.write() as s:  # re-read inside the write lock: another writer may have won
        family = list(s.scalars(select(Transform).where(in_family).order_by(Transform.uid)))
        found = next((tf for tf in family if same(tf)), None)
        if found is not None:
            return found
        if family:
            n = ids.TRANSFORM_STEM_LEN
            new_uid = family[0].uid[:n] + ids.next_version_suffix(max(t.uid for t in family)[n:])
            s.execute(update(Transform).where(in_family).values(is_latest=False))
        elif uid is not None:
            new_uid = uid if len(uid) > ids.TRANSFORM_STEM_LEN else uid + ids.FIRST_VERSION
        else:
            new_uid = ids.new_uid(ids.TRANSFORM_STEM_LEN, True)
        tf = Transform(
            uid=new_uid, key=key, kind=type, source_code=source_code, hash=digest,
            version=version, reference=reference, reference_type=reference_type,
            description=description, is_latest=True, created_at=utcnow(),
        )
        s.add(tf)
        s.flush()  # give tf its id inside a caller's open transaction
    return tf


def is_transform_uid(value: str) -> bool:
    """Whether ``value`` is spelled like a transform uid (or its stem), not a key."""
    return len(value) in (ids.TRANSFORM_STEM_LEN, ids.TRANSFORM_STEM_LEN + ids.VERSION_LEN) \
        and all(c in ids.BASE62 for c in value)

"""Labels: ``Project`` and ``ULabel``, and putting runs into projects."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Mapped

from ..db import ids, tables
from ..db.engine import get_instance, insert_ignore
from ..db.query import QuerySet
from ..db.record import Record, entity, through
from ..db.schema import Base, utcnow


class Project(Record, Base):
    """A project label for runs, transforms, artifacts and collections."""

    __table__ = tables.project

    id: Mapped[int]
    uid: Mapped[str]
    name: Mapped[str]
    description: Mapped[str | None]
    created_at: Mapped[datetime]

    @property
    def runs(self) -> QuerySet[Any]:
        """Runs in this project."""
        return through(entity(tables.run), tables.run_project, "project_id", "run_id", self.id)

    @property
    def artifacts(self) -> QuerySet[Any]:
        """Artifacts in this project."""
        return through(entity(tables.artifact), tables.artifact_project, "project_id",
                       "artifact_id", self.id)


class ULabel(Record, Base):
    """A free-form label (lamindb's ULabel)."""

    __table__ = tables.ulabel

    id: Mapped[int]
    uid: Mapped[str]
    name: Mapped[str]
    description: Mapped[str | None]
    created_at: Mapped[datetime]


def link_projects(run_id: int, projects: Iterable[Project | str]) -> None:
    """Put a run in projects (created by name when given as strings)."""
    inst = get_instance()
    project_ids = []
    for p in projects:
        if isinstance(p, str):
            with inst.write() as s:
                s.execute(insert_ignore(inst.dialect, tables.project).values(
                    uid=ids.base62(ids.PROJECT_UID_LEN), name=p, created_at=utcnow()))
            p = Project.get(name=p)
        project_ids.append(p.id)
    with inst.write() as s:
        for pid in project_ids:
            s.execute(insert_ignore(inst.dialect, tables.run_project).values(
                run_id=run_id, project_id=pid))

"""Labels: ``Project`` and ``ULabel``, and finding a project by name."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Mapped

from ..db import tables
from ..db.query import QuerySet
from ..db.record import Record, entity, through
from ..db.schema import Base
from ..errors import DoesNotExist


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


def project_named(name: str) -> Project:
    """The project called ``name``; ``DoesNotExist`` naming the known projects otherwise
    (``track(project=...)`` never creates one by accident)."""
    found = Project.filter(name=name).one_or_none()
    if found is None:
        known = ", ".join(sorted(p.name for p in Project.all())) or "none yet"
        raise DoesNotExist(f"project {name!r} does not exist (known projects: {known}); "
                           f"create it with fl.Project(name={name!r}).save()")
    return found

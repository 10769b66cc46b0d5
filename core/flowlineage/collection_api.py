"""Behaviour of ``Collection``: navigation to members and runs (full API: collections issue)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

if TYPE_CHECKING:
    from .models import Artifact, Run
    from .query import QuerySet


class CollectionMixin:
    """Methods of ``Collection``; columns are declared in ``models.Collection``."""

    id: int | None
    run_id: int | None

    @property
    def ordered_artifacts(self) -> QuerySet[Artifact]:
        """Member artifacts in their collection order."""
        from .models import Artifact, collection_artifact
        from .query import QuerySet

        stmt = (
            select(Artifact)
            .join(collection_artifact, collection_artifact.c.artifact_id == Artifact.id)
            .where(collection_artifact.c.collection_id == self.id)
            .order_by(collection_artifact.c.order)
        )
        return QuerySet(Artifact, stmt, hide_trash=False)

    @property
    def run(self) -> Run | None:
        """The run that created this collection."""
        from .models import Run

        return None if self.run_id is None else Run.get(self.run_id)

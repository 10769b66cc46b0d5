"""Behaviour of ``Collection`` (seed ``lamindb.Collection``): construction, saving with
deduplication and versions, reading members, trash, navigation and lineage.

The work is done in ``save`` (write side), ``io`` (read side), ``lineage`` and ``mapped``.
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Self

from sqlalchemy import select
from sqlalchemy.orm import Mapped

from ..artifact.artifact import Artifact
from ..artifact.describe import Described
from ..db import ids, tables
from ..db.enums import Branch
from ..db.query import QuerySet
from ..db.record import Record, saved_id, through
from ..db.schema import Base
from ..db.tables import (
    collection_artifact,
    collection_project,
    collection_recreating_run,
    collection_ulabel,
    run_input_collection,
)
from ..lineage.walk import Direction
from ..run.labels import Project, ULabel
from ..run.run import Run
from ..run.transform import Transform
from .io import cache, load, mapped, mark_input, members, open_dataset
from .lineage import CollectionLineage, collection_lineage, describe_collection, view_lineage
from .mapped import MappedCollection
from .save import PendingCollection, delete_permanently, prepare, save_collection, set_branch

Join = Literal["inner", "outer"]


class Collection(Record, Base, Described):
    """An ordered, versioned set of artifacts (seed ``lamindb.Collection``)."""

    __table__ = tables.collection
    __allow_unmapped__ = True  # `_pending` is plain state, not a column

    id: Mapped[int]
    uid: Mapped[str]
    key: Mapped[str | None]
    description: Mapped[str | None]
    hash: Mapped[str]
    meta_artifact_id: Mapped[int | None]
    reference: Mapped[str | None]
    reference_type: Mapped[str | None]
    run_id: Mapped[int | None]
    version: Mapped[str | None]
    is_latest: Mapped[bool]
    _branch_code: Mapped[int]
    created_at: Mapped[datetime]
    _pending: PendingCollection | None  # set until save(); absent on loaded records

    def __init__(
        self,
        artifacts: Artifact | list[Artifact],
        key: str | None = None,
        description: str | None = None,
        meta: Artifact | None = None,
        reference: str | None = None,
        reference_type: str | None = None,
        run: Run | None = None,
        revises: Collection | None = None,
        version: str | None = None,
        name: str | None = None,
    ) -> None:
        """An unsaved collection of saved artifacts, kept in the given order.

        ``meta`` becomes ``meta_artifact``; ``run`` (default: the current run at save
        time) becomes the creating run; ``revises`` makes this the next version of a
        saved collection (its key and description carry over unless given). ``name`` is
        lamindb's older spelling of ``key``.
        """
        self._pending = prepare(self, artifacts, key if key is not None else name, description,
                                meta, reference, reference_type, run, revises, version)

    def save(self) -> Self:
        """Save the collection and its ordered member links in one transaction.

        With the same members (and meta artifact) already saved, ``self`` becomes that
        collection and the run is linked in ``recreating_runs``. Saving under an existing
        ``key`` with other members (or with ``revises=``) makes a new version. In a run,
        members the run did not create, and the revised version, become its inputs.
        """
        pending = getattr(self, "_pending", None)
        if self.id is not None and pending is None:
            return super().save()
        revises = pending.revises if pending is not None else None
        save_collection(self)
        if revises is not None and revises.id != self.id and self.is_latest:
            revises.is_latest = False  # the record in hand agrees with the database
        return self

    @classmethod
    def get(cls, idlike: int | str | None = None, *, is_run_input: bool = False,
            **lookups: Any) -> Self:
        """One collection by id, uid or lookups; ``is_run_input=True`` links it as an input
        of the current run.
        """
        found = super().get(idlike, **lookups)
        if is_run_input:
            mark_input(found, True)
        return found

    def append(self, artifact: Artifact, run: Run | None = None) -> Collection:
        """A new, unsaved version holding this collection's members plus ``artifact``.

        The collection itself does not change; call ``.save()`` on the result.
        """
        return Collection([*members(self), artifact],
                          description=self.description, revises=self, run=run)

    # ---------------------------------------------------------------- navigation

    @property
    def ordered_artifacts(self) -> QuerySet[Artifact]:
        """Member artifacts in their collection order."""
        return self._members_query(ordered=True)

    @property
    def artifacts(self) -> QuerySet[Artifact]:
        """Member artifacts (unordered; see ``ordered_artifacts``)."""
        return self._members_query(ordered=False)

    def _members_query(self, ordered: bool) -> QuerySet[Artifact]:
        stmt = (
            select(Artifact)
            .join(collection_artifact, collection_artifact.c.artifact_id == Artifact.id)
            .where(collection_artifact.c.collection_id == saved_id(self))
        )
        if ordered:
            stmt = stmt.order_by(collection_artifact.c.order)
        return QuerySet(Artifact, stmt, hide_trash=False)

    @property
    def data_artifact(self) -> Artifact | None:
        """The member of a one-artifact collection (e.g. data next to ``meta_artifact``),
        else None.
        """
        found = members(self)
        return found[0] if len(found) == 1 else None

    @property
    def meta_artifact(self) -> Artifact | None:
        """The artifact holding metadata about the collection, if any."""
        mid = self.meta_artifact_id
        return None if mid is None else Artifact.get(mid)

    @property
    def run(self) -> Run | None:
        """The run that created this collection."""
        return None if self.run_id is None else Run.get(self.run_id)

    @property
    def transform(self) -> Transform | None:
        """The transform whose run created this collection."""
        run = self.run
        return None if run is None else run.transform

    @property
    def name(self) -> str | None:
        """The last ``/``-separated part of ``key``."""
        return None if self.key is None else self.key.rsplit("/", 1)[-1]

    @property
    def input_of_runs(self) -> QuerySet[Run]:
        """Runs that read this collection."""
        return through(Run, run_input_collection, "collection_id", "run_id", saved_id(self))

    @property
    def recreating_runs(self) -> QuerySet[Run]:
        """Runs that saved the same collection again."""
        return through(Run, collection_recreating_run, "collection_id", "run_id",
                        saved_id(self))

    @property
    def projects(self) -> QuerySet[Project]:
        """Projects this collection belongs to."""
        return through(Project, collection_project, "collection_id", "project_id",
                        saved_id(self))

    @property
    def ulabels(self) -> QuerySet[ULabel]:
        """Labels of this collection."""
        return through(ULabel, collection_ulabel, "collection_id", "ulabel_id", saved_id(self))

    @property
    def versions(self) -> QuerySet[Collection]:
        """Every version of this collection (same uid stem), oldest first, trash included."""
        stem = self.stem_uid
        return Collection.filter(
            Collection.uid >= stem, Collection.uid < ids.family_upper_bound(stem),
            _branch_code__in=[Branch.main, Branch.trash],
        ).order_by("uid")

    @property
    def stem_uid(self) -> str:
        """The uid without its 4-character version suffix."""
        return self.uid[: ids.VERSIONED_STEM_LEN]

    # ---------------------------------------------------------------- data access

    def cache(self, is_run_input: bool | None = None) -> list[Path]:
        """Local paths of every member, in order (remote members are downloaded once)."""
        return cache(self, is_run_input)

    def load(self, join: Join = "outer", is_run_input: bool | None = None,
             **kwargs: Any) -> Any:
        """Members concatenated into one DataFrame (``pandas.concat``) or AnnData
        (``anndata.concat``, with an ``artifact_uid`` column naming each row's member).
        """
        return load(self, join, is_run_input, **kwargs)

    def open(self, is_run_input: bool | None = None, **kwargs: Any) -> Any:
        """A ``pyarrow.dataset.Dataset`` over parquet/csv/feather members, where they are
        stored (S3 through fsspec); ``kwargs`` go to ``pyarrow.dataset.dataset``.
        """
        return open_dataset(self, is_run_input, **kwargs)

    def mapped(
        self,
        layers_keys: str | list[str] | None = None,
        obs_keys: str | list[str] | None = None,
        obsm_keys: str | list[str] | None = None,
        obs_filter: dict[str, str | tuple[str, ...]] | None = None,
        join: Join | None = "inner",
        encode_labels: bool | list[str] = True,
        unknown_label: str | dict[str, str] | None = None,
        cache_categories: bool = True,
        parallel: bool = False,
        dtype: str | None = None,
        stream: bool = False,
        is_run_input: bool | None = None,
    ) -> MappedCollection:
        """A map-style dataset (usable as a torch ``Dataset``) over the ``.h5ad`` members.

        ``obs_filter`` keeps the observations whose ``.obs`` values are among the given
        ones, e.g. ``{"cell_type": ("T cell", "B cell")}``.
        Rows are read on demand with h5py (see ``flowlineage.mapped``). Members are cached
        locally first unless ``stream=True``, which reads remote files through fsspec.
        """
        return mapped(
            self, is_run_input, stream,
            layers_keys=layers_keys, obs_keys=obs_keys, obsm_keys=obsm_keys,
            obs_filter=obs_filter, join=join,
            encode_labels=encode_labels, unknown_label=unknown_label,
            cache_categories=cache_categories, parallel=parallel, dtype=dtype,
        )

    # ---------------------------------------------------------------- trash

    def delete(self, permanent: bool = False) -> None:
        """Move to the trash, or with ``permanent=True`` delete the record and its links
        (member and meta artifacts stay).
        """
        if permanent:
            delete_permanently(self)
        else:
            set_branch(self, Branch.trash)

    def restore(self) -> None:
        """Bring the collection back from the trash."""
        set_branch(self, Branch.main)

    # ---------------------------------------------------------------- lineage

    def upstream(self, depth: int | None = None) -> CollectionLineage:
        """Its creating run, members and meta artifact, and everything they came from."""
        return collection_lineage(self, "upstream", depth)

    def downstream(self, depth: int | None = None) -> CollectionLineage:
        """The runs that read this collection and everything derived from them."""
        return collection_lineage(self, "downstream", depth)

    def view_lineage(self, format: str = "text", path: str | os.PathLike[str] | None = None,
                     direction: Direction = "upstream", depth: int | None = None) -> str:
        """The lineage drawn as ``text``, ``mermaid``, ``dot``, ``json`` or ``html``; also
        written to ``path`` when given.
        """
        return view_lineage(self, format, path, direction, depth)

    def _description(self) -> str:
        """Fields, members, meta artifact, run, inputs-of and versions (see ``describe()``)."""
        return describe_collection(self)

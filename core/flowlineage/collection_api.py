"""Behaviour of ``Collection`` (seed ``lamindb.Collection``): construction, saving with
deduplication and versions, reading members, trash, navigation and lineage.

The work is done in ``collection_save`` (write side), ``collection_io`` (read side),
``collection_lineage`` and ``mapped``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Self

from sqlalchemy import select

from . import ids
from .query import MAIN, TRASH
from .record import Record

if TYPE_CHECKING:
    import os

    from .collection_lineage import CollectionLineage
    from .collection_save import PendingCollection
    from .lineage import Direction
    from .mapped import MappedCollection
    from .models import Artifact, Collection, Project, Run, Transform, ULabel
    from .query import QuerySet

Join = Literal["inner", "outer"]


class CollectionMixin(Record):
    """Methods of ``Collection``; columns are declared in ``models.Collection``."""

    id: int | None
    uid: str
    key: str | None
    description: str | None
    hash: str
    meta_artifact_id: int | None
    reference: str | None
    reference_type: str | None
    run_id: int | None
    version: str | None
    is_latest: bool
    _branch_code: int
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
    ) -> None:
        """An unsaved collection of saved artifacts, kept in the given order.

        ``meta`` becomes ``meta_artifact``; ``run`` (default: the current run at save
        time) becomes the creating run; ``revises`` makes this the next version of a
        saved collection (its key and description carry over unless given).
        """
        from .collection_save import prepare

        self._pending = prepare(self, artifacts, key, description,  # type: ignore[arg-type]
                                meta, reference, reference_type, run, revises, version)

    def save(self) -> Self:
        """Save the collection and its ordered member links in one transaction.

        With the same members (and meta artifact) already saved, ``self`` becomes that
        collection and the run is linked in ``recreating_runs``. Saving under an existing
        ``key`` with other members (or with ``revises=``) makes a new version. In a run,
        members the run did not create, and the revised version, become its inputs.
        """
        from .collection_save import save_collection

        if self.id is not None and getattr(self, "_pending", None) is None:
            return super().save()
        save_collection(self)  # type: ignore[arg-type]
        return self

    @classmethod
    def get(cls, idlike: int | str | None = None, *, is_run_input: bool = False,
            **lookups: Any) -> Self:
        """One collection by id, uid or lookups; ``is_run_input=True`` links it as an input
        of the current run.
        """
        from .collection_io import mark_input

        found = super().get(idlike, **lookups)
        if is_run_input:
            mark_input(found, True)  # type: ignore[arg-type]
        return found

    def append(self, artifact: Artifact, run: Run | None = None) -> Collection:
        """A new, unsaved version holding this collection's members plus ``artifact``.

        The collection itself does not change; call ``.save()`` on the result.
        """
        from .collection_io import members
        from .models import Collection

        return Collection([*members(self), artifact],  # type: ignore[arg-type]
                          description=self.description, revises=self, run=run)  # type: ignore[arg-type]

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
        from .collection_save import saved_id
        from .models import Artifact, collection_artifact
        from .query import QuerySet

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
        from .collection_io import members

        found = members(self)  # type: ignore[arg-type]
        return found[0] if len(found) == 1 else None

    @property
    def meta_artifact(self) -> Artifact | None:
        """The artifact holding metadata about the collection, if any."""
        from .models import Artifact

        mid = self.meta_artifact_id
        return None if mid is None else Artifact.get(mid)

    @property
    def run(self) -> Run | None:
        """The run that created this collection."""
        from .models import Run

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
        from .collection_save import saved_id
        from .models import Run, _through, run_input_collection

        return _through(Run, run_input_collection, "collection_id", "run_id", saved_id(self))

    @property
    def recreating_runs(self) -> QuerySet[Run]:
        """Runs that saved the same collection again."""
        from .collection_save import saved_id
        from .models import Run, _through, collection_recreating_run

        return _through(Run, collection_recreating_run, "collection_id", "run_id",
                        saved_id(self))

    @property
    def projects(self) -> QuerySet[Project]:
        """Projects this collection belongs to."""
        from .collection_save import saved_id
        from .models import Project, _through, collection_project

        return _through(Project, collection_project, "collection_id", "project_id",
                        saved_id(self))

    @property
    def ulabels(self) -> QuerySet[ULabel]:
        """Labels of this collection."""
        from .collection_save import saved_id
        from .models import ULabel, _through, collection_ulabel

        return _through(ULabel, collection_ulabel, "collection_id", "ulabel_id", saved_id(self))

    @property
    def versions(self) -> QuerySet[Collection]:
        """Every version of this collection (same uid stem), oldest first, trash included."""
        from .models import Collection

        stem = self.stem_uid
        return Collection.filter(
            Collection.uid >= stem, Collection.uid < ids.family_upper_bound(stem),
            _branch_code__in=[MAIN, TRASH],
        ).order_by("uid")

    @property
    def stem_uid(self) -> str:
        """The uid without its 4-character version suffix."""
        return self.uid[:16]

    # ---------------------------------------------------------------- data access

    def cache(self, is_run_input: bool | None = None) -> list[Path]:
        """Local paths of every member, in order (remote members are downloaded once)."""
        from .collection_io import cache

        return cache(self, is_run_input)  # type: ignore[arg-type]

    def load(self, join: Join = "outer", is_run_input: bool | None = None,
             **kwargs: Any) -> Any:
        """Members concatenated into one DataFrame (``pandas.concat``) or AnnData
        (``anndata.concat``, with an ``artifact_uid`` column naming each row's member).
        """
        from .collection_io import load

        return load(self, join, is_run_input, **kwargs)  # type: ignore[arg-type]

    def open(self, is_run_input: bool | None = None, **kwargs: Any) -> Any:
        """A ``pyarrow.dataset.Dataset`` over parquet/csv/feather members, where they are
        stored (S3 through fsspec); ``kwargs`` go to ``pyarrow.dataset.dataset``.
        """
        from .collection_io import open_dataset

        return open_dataset(self, is_run_input, **kwargs)  # type: ignore[arg-type]

    def mapped(
        self,
        layers_keys: str | list[str] | None = None,
        obs_keys: str | list[str] | None = None,
        obsm_keys: str | list[str] | None = None,
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

        Rows are read on demand with h5py (see ``flowlineage.mapped``). Members are cached
        locally first unless ``stream=True``, which reads remote files through fsspec.
        """
        from .collection_io import mapped

        return mapped(
            self, is_run_input, stream,  # type: ignore[arg-type]
            layers_keys=layers_keys, obs_keys=obs_keys, obsm_keys=obsm_keys, join=join,
            encode_labels=encode_labels, unknown_label=unknown_label,
            cache_categories=cache_categories, parallel=parallel, dtype=dtype,
        )

    # ---------------------------------------------------------------- trash

    def delete(self, permanent: bool = False) -> None:
        """Move to the trash, or with ``permanent=True`` delete the record and its links
        (member and meta artifacts stay).
        """
        from .collection_save import delete_permanently, set_branch

        if permanent:
            delete_permanently(self)  # type: ignore[arg-type]
        else:
            set_branch(self, TRASH)  # type: ignore[arg-type]

    def restore(self) -> None:
        """Bring the collection back from the trash."""
        from .collection_save import set_branch

        set_branch(self, MAIN)  # type: ignore[arg-type]

    # ---------------------------------------------------------------- lineage

    def upstream(self, depth: int | None = None) -> CollectionLineage:
        """Its creating run, members and meta artifact, and everything they came from."""
        from .collection_lineage import collection_lineage

        return collection_lineage(self, "upstream", depth)  # type: ignore[arg-type]

    def downstream(self, depth: int | None = None) -> CollectionLineage:
        """The runs that read this collection and everything derived from them."""
        from .collection_lineage import collection_lineage

        return collection_lineage(self, "downstream", depth)  # type: ignore[arg-type]

    def view_lineage(self, format: str = "text", path: str | os.PathLike[str] | None = None,
                     direction: Direction = "upstream", depth: int | None = None) -> str:
        """The lineage drawn as ``text``, ``mermaid``, ``dot``, ``json`` or ``html``; also
        written to ``path`` when given.
        """
        from .collection_lineage import view_lineage

        return view_lineage(self, format, path, direction, depth)  # type: ignore[arg-type]

    def describe(self, print_: bool = True) -> str:
        """A readable summary: fields, members, meta artifact, run, inputs-of and versions."""
        from .collection_lineage import describe_collection

        return describe_collection(self, print_)  # type: ignore[arg-type]

"""Behaviour of ``Artifact``: construction from data, saving with deduplication and
versions, loading, caching, trash, and navigation to runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

from sqlalchemy import update

from . import ids
from .errors import ValidationError

if TYPE_CHECKING:
    import os

    from .artifact_save import Pending
    from .lineage import Lineage
    from .models import Artifact, Collection, Run, Storage
    from .query import QuerySet

from .query import MAIN, TRASH


class ArtifactMixin:
    """Methods of ``Artifact``; columns are declared in ``models.Artifact``."""

    id: int | None
    uid: str
    key: str | None
    description: str | None
    suffix: str
    kind: str | None
    otype: str | None
    size: int | None
    hash: str
    _hash_type: str
    n_files: int | None
    storage_id: int
    _storage_key: str
    _key_is_virtual: bool
    run_id: int | None
    version: str | None
    is_latest: bool
    _branch_code: int
    _pending: Pending | None

    def __init__(
        self,
        data: Any,
        key: str | None = None,
        description: str | None = None,
        run: Run | None = None,
        revises: Artifact | None = None,
        kind: str | None = None,
        version: str | None = None,
    ) -> None:
        from .artifact_save import prepare

        self._pending = prepare(cast("Artifact", self), data, key, description, run, revises,
                                kind, version)

    def save(self) -> Artifact:
        """Store the bytes, then the record; identical content returns the existing artifact.

        With identical content already saved, ``self`` becomes that artifact and the
        current run is linked in ``recreating_runs``. Saving under an existing ``key`` with
        new content (or with ``revises=``) makes a new version in the same family.
        """
        from .artifact_save import save_one

        if self.id is not None and getattr(self, "_pending", None) is None:
            return super().save()  # type: ignore[misc, no-any-return]
        return save_one(self)  # type: ignore[arg-type]

    # ---------------------------------------------------------------- navigation

    @property
    def run(self) -> Run | None:
        """The run that created this artifact."""
        from .models import Run

        return None if self.run_id is None else Run.get(self.run_id)

    @property
    def storage(self) -> Storage:
        """The storage root holding the bytes."""
        from .instance import get_instance

        return get_instance().storage_by_id(self.storage_id)

    @property
    def path(self) -> str:
        """Where the bytes are: a local path or a URL such as ``s3://bucket/key``."""
        return f"{self.storage.root}/{self._storage_key}"

    @property
    def input_of_runs(self) -> QuerySet[Run]:
        """Runs that read this artifact."""
        from .models import Run, _through, run_input_artifact

        return _through(Run, run_input_artifact, "artifact_id", "run_id", _saved_id(self))

    @property
    def recreating_runs(self) -> QuerySet[Run]:
        """Runs that saved identical content again."""
        from .models import Run, _through, artifact_recreating_run

        return _through(Run, artifact_recreating_run, "artifact_id", "run_id", _saved_id(self))

    @property
    def collections(self) -> QuerySet[Collection]:
        """Collections containing this artifact."""
        from .models import Collection, _through, collection_artifact

        return _through(Collection, collection_artifact, "artifact_id", "collection_id",
                        _saved_id(self))

    @property
    def versions(self) -> QuerySet[Artifact]:
        """Every version of this artifact (same uid stem), oldest first, trash included."""
        from .models import Artifact

        stem = self.uid[:16]
        return Artifact.filter(
            Artifact.uid >= stem, Artifact.uid < ids.family_upper_bound(stem), _branch_code__in=[
                MAIN, TRASH]
        ).order_by("uid")

    @property
    def stem_uid(self) -> str:
        """The uid without its 4-character version suffix."""
        return self.uid[:16]

    # ---------------------------------------------------------------- data access

    def cache(self, is_run_input: bool | None = None) -> Path:
        """A local path to the content (downloaded once into the cache for remote storage)."""
        from .artifact_io import cache_path

        path = cache_path(self)  # type: ignore[arg-type]
        self._mark_input(is_run_input)
        return path

    def load(self, is_run_input: bool | None = None, **kwargs: Any) -> Any:
        """The content as an object: DataFrame (parquet/csv), AnnData (h5ad), JSON, or a path."""
        from .artifact_io import load_path

        path = self.cache(is_run_input=is_run_input)
        return load_path(path, self.suffix, self.otype, **kwargs)

    def open(self, mode: str = "rb", is_run_input: bool | None = None) -> IO[Any]:
        """A file handle on the content, through the storage backend (fsspec for S3)."""
        from .instance import get_instance

        handle = get_instance().backend(self.storage).open(self._storage_key, mode)
        self._mark_input(is_run_input)
        return handle

    def _mark_input(self, is_run_input: bool | None) -> None:
        from .tracking import get_current_run, link_inputs

        if is_run_input is False:
            return
        run = get_current_run()
        if run is not None and run.id != self.run_id:
            link_inputs(run, [self])  # type: ignore[list-item]

    # ---------------------------------------------------------------- trash

    def delete(self, permanent: bool = False, storage: bool | None = None) -> None:
        """Move to the trash, or with ``permanent=True`` delete the record.

        Permanent deletion also removes the bytes when flowlineage copied them into storage
        (``storage=None``) or when ``storage=True``; files registered in place stay.
        """
        from .artifact_io import delete_permanently

        if not permanent:
            self._set_branch(TRASH)
            return
        delete_permanently(self, storage)  # type: ignore[arg-type]

    def restore(self) -> None:
        """Bring the artifact back from the trash."""
        self._set_branch(MAIN)

    def _set_branch(self, code: int) -> None:
        from .instance import get_instance
        from .models import Artifact

        with get_instance().write() as s:
            s.execute(update(Artifact).where(Artifact.id == _saved_id(self))
                      .values(_branch_code=code))
        self._branch_code = code

    # ---------------------------------------------------------------- lineage

    def upstream(self, depth: int | None = None) -> Lineage:
        """Every run and artifact this artifact came from, across orchestrators."""
        from .lineage import walk

        return walk("artifact", _saved_id(self), "upstream", depth)

    def downstream(self, depth: int | None = None) -> Lineage:
        """Every run and artifact derived from this artifact."""
        from .lineage import walk

        return walk("artifact", _saved_id(self), "downstream", depth)

    def view_lineage(self, format: str = "text", path: str | os.PathLike[str] | None = None,
                     direction: str = "upstream", depth: int | None = None) -> str:
        """The lineage as text, mermaid, dot, json or html; also written to ``path`` if given."""
        from .render import view_lineage

        return view_lineage(cast("Artifact", self), format, path, direction, depth)

    def describe(self, print_: bool = True) -> str:
        """A readable summary: fields, storage, run, inputs and versions."""
        from .describe import describe_artifact

        return describe_artifact(self, print_)  # type: ignore[arg-type]


def _saved_id(record: Any) -> int:
    if record.id is None:
        raise ValidationError(f"{type(record).__name__} is not saved yet: call .save() first")
    return int(record.id)

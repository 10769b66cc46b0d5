"""Behaviour of ``Artifact``: construction from data, saving with deduplication and
versions, loading, caching, trash, and navigation to runs.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal, Self

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Mapped

from ..db import ids, tables
from ..db.engine import Instance, get_instance
from ..db.enums import Branch
from ..db.lookups import Q
from ..db.query import QuerySet
from ..db.record import Record, entity, saved_id, through
from ..db.schema import Base
from ..errors import DoesNotExist, ValidationError
from ..lineage.walk import Lineage, walk
from ..render.formats import view_lineage
from ..run.run import Run, get_current_run
from ..storage.hashing import hash_bytes
from ..storage.roots import Storage, storage_by_id
from ..tracking.inputs import link_inputs
from .describe import Described, describe_artifact
from .io import cache_path, delete_permanently, load_path
from .locations import (
    Location,
    at_path,
    hash_of_place,
    local_or_remote_exists,
    locations_of,
    normalize,
)
from .save import Pending, find_by_hash, prepare, save_one


class Artifact(Record, Base, Described):
    """A file, folder or in-memory object saved to storage, identified by its content hash."""

    __table__ = tables.artifact
    __allow_unmapped__ = True  # `_pending` is plain state, not a column

    id: Mapped[int]
    uid: Mapped[str]
    key: Mapped[str | None]
    description: Mapped[str | None]
    suffix: Mapped[str]
    kind: Mapped[str | None]
    otype: Mapped[str | None]
    size: Mapped[int | None]
    hash: Mapped[str]
    _hash_type: Mapped[str]
    n_files: Mapped[int | None]
    storage_id: Mapped[int]
    _storage_key: Mapped[str]
    _key_is_virtual: Mapped[bool]
    run_id: Mapped[int | None]
    version: Mapped[str | None]
    is_latest: Mapped[bool]
    _branch_code: Mapped[int]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    _pending: Pending | None
    matched_by: Literal["location", "content"] | None = None
    """How ``get(path=...)`` found this artifact: a recorded location at the path, or (for a
    path never recorded) the content hash of the bytes there."""

    def __init__(
        self,
        data: Any,
        key: str | None = None,
        description: str | None = None,
        run: Run | bool | None = None,
        revises: Artifact | None = None,
        kind: str | None = None,
        version: str | None = None,
    ) -> None:
        self._pending = prepare(self, data, key, description, run, revises,
                                kind, version)

    def save(self) -> Artifact:
        """Store the bytes, then the record; identical content returns the existing artifact.

        With identical content already saved, ``self`` becomes that artifact and the
        current run is linked in ``recreating_runs``. Saving under an existing ``key`` with
        new content (or with ``revises=``) makes a new version in the same family.
        """
        if self.id is not None and getattr(self, "_pending", None) is None:
            return super().save()
        return save_one(self)

    # ---------------------------------------------------------------- queries by path

    @classmethod
    def filter(cls, *clauses: ColumnElement[bool] | Q,
               path: str | os.PathLike[str] | None = None, **lookups: Any) -> QuerySet[Self]:
        """Artifacts matching lookups; with ``path=`` (relative, absolute, ``file://`` or a
        URI such as ``s3://bucket/key``), those whose bytes were at that place, newest first,
        or for a place never recorded, those with the content found there."""
        if path is None:
            return super().filter(*clauses, **lookups)
        return cls._by_path(path)[0].filter(*clauses, **lookups)

    @classmethod
    def get(cls, idlike: int | str | None = None, *,
            path: str | os.PathLike[str] | None = None, **lookups: Any) -> Self:
        """One artifact by id, uid or lookups; with ``path=``, the newest content recorded
        at that place, else the artifact whose content is there (``matched_by`` says which).
        """
        if path is None:
            return super().get(idlike, **lookups)
        if idlike is not None:
            raise ValidationError("give an id or uid, or path=, not both")
        query, matched_by = cls._by_path(path, check=False)
        found = query.filter(**lookups).first()
        if found is None and matched_by == "location":
            query, matched_by = cls._by_path(path)
            found = query.filter(**lookups).first()
        if found is None:
            raise DoesNotExist(f"no artifact matches {os.fspath(path)} and the lookups given")
        found.matched_by = matched_by
        return found

    @classmethod
    def _by_path(cls, path: str | os.PathLike[str], check: bool = True
                 ) -> tuple[QuerySet[Self], Literal["location", "content"]]:
        """Artifacts recorded at ``path`` (without ``check``: unverified that any is), else
        those with the content there; ``DoesNotExist`` when neither."""
        place, host = normalize(path)
        loc = tables.artifact_location.c
        recorded = select(cls).join(tables.artifact_location, loc.artifact_id == cls.id).where(
            at_path(place, host)).order_by(loc.recorded_at.desc(), loc.id.desc())
        query: QuerySet[Self] = QuerySet(cls, recorded)
        if not check or query.exists():
            return query, "location"
        if not local_or_remote_exists(place, host):
            raise DoesNotExist(f"nothing was recorded at {place} and no file or folder is there")
        found: QuerySet[Self] = QuerySet(cls).filter(hash=hash_of_place(place, host))
        if not found.exists():
            raise DoesNotExist(f"{place} was never recorded and its content matches no artifact")
        return found, "content"

    # ---------------------------------------------------------------- navigation

    @property
    def locations(self) -> QuerySet[Location]:
        """Every place these bytes were seen, newest first, each with the run that wrote
        them there and ``state()``."""
        return locations_of(saved_id(self))

    @property
    def run(self) -> Run | None:
        """The run that created this artifact."""
        return None if self.run_id is None else Run.get(self.run_id)

    @property
    def storage(self) -> Storage:
        """The storage root holding the bytes."""
        return storage_by_id(self.storage_id)

    @property
    def path(self) -> str:
        """Where the bytes are: a local path or a URL such as ``s3://bucket/key``."""
        return f"{self.storage.root}/{self._storage_key}"

    @property
    def input_of_runs(self) -> QuerySet[Run]:
        """Runs that read this artifact."""
        return through(Run, tables.run_input_artifact, "artifact_id", "run_id", saved_id(self))

    @property
    def recreating_runs(self) -> QuerySet[Run]:
        """Runs that saved identical content again."""
        return through(Run, tables.artifact_recreating_run, "artifact_id", "run_id",
                       saved_id(self))

    @property
    def collections(self) -> QuerySet[Any]:
        """Collections containing this artifact."""
        return through(entity(tables.collection), tables.collection_artifact, "artifact_id",
                       "collection_id", saved_id(self))

    @property
    def versions(self) -> QuerySet[Artifact]:
        """Every version of this artifact (same uid stem), oldest first, trash included."""
        stem = self.stem_uid
        return Artifact.filter(
            Artifact.uid >= stem, Artifact.uid < ids.family_upper_bound(stem),
            _branch_code__in=[Branch.main, Branch.trash],
        ).order_by("uid")

    @property
    def stem_uid(self) -> str:
        """The uid without its 4-character version suffix."""
        return self.uid[: ids.VERSIONED_STEM_LEN]

    # ---------------------------------------------------------------- data access

    def cache(self, is_run_input: bool | None = None) -> Path:
        """A local path to the content (downloaded once into the cache for remote storage)."""
        path = cache_path(self)
        self._mark_input(is_run_input)
        return path

    def load(self, is_run_input: bool | None = None, **kwargs: Any) -> Any:
        """The content as an object: DataFrame (parquet/csv), AnnData (h5ad), JSON, or a path."""
        path = self.cache(is_run_input=is_run_input)
        return load_path(path, self.suffix, self.otype, **kwargs)

    def open(self, mode: str = "rb", is_run_input: bool | None = None) -> IO[Any]:
        """A file handle on the content, through the storage backend (fsspec for S3)."""
        handle = self.storage.backend.open(self._storage_key, mode)
        self._mark_input(is_run_input)
        return handle

    def _mark_input(self, is_run_input: bool | None) -> None:
        if is_run_input is False:
            return
        run = get_current_run()
        if run is not None and run.id != self.run_id:
            link_inputs(run, [self])

    # ---------------------------------------------------------------- trash

    def delete(self, permanent: bool = False, storage: bool | None = None) -> None:
        """Move to the trash, or with ``permanent=True`` delete the record.

        Permanent deletion also removes the bytes when flowlineage copied them into storage
        (``storage=None``) or when ``storage=True``; files registered in place stay.
        """
        if not permanent:
            self._set_branch(Branch.trash)
            return
        delete_permanently(self, storage)

    def restore(self) -> None:
        """Bring the artifact back from the trash."""
        self._set_branch(Branch.main)

    def _set_branch(self, code: int) -> None:
        with get_instance().write() as s:
            s.execute(update(Artifact).where(Artifact.id == saved_id(self))
                      .values(_branch_code=code))
        self._branch_code = code

    # ---------------------------------------------------------------- lineage

    def upstream(self, depth: int | None = None) -> Lineage:
        """Every run and artifact this artifact came from, across orchestrators."""
        return walk("artifact", saved_id(self), "upstream", depth)

    def downstream(self, depth: int | None = None) -> Lineage:
        """Every run and artifact derived from this artifact."""
        return walk("artifact", saved_id(self), "downstream", depth)

    def view_lineage(self, format: str = "text", path: str | os.PathLike[str] | None = None,
                     direction: str = "upstream", depth: int | None = None) -> str:
        """The lineage as text, mermaid, dot, json or html; also written to ``path`` if given."""
        return view_lineage(self, format, path, direction, depth)

    def _description(self) -> str:
        """Fields, storage, run, inputs and versions (see ``describe()``)."""
        return describe_artifact(self)


def existing_or_new_bytes(inst: Instance, data: bytes, name: str, kind: str) -> Artifact:
    """An artifact holding ``data`` (e.g. a run's environment), deduplicated, with no run."""
    found = find_by_hash(inst, hash_bytes(data))
    if found is not None:
        return found
    tmp = tempfile.mkdtemp(prefix="fl-bytes-")
    try:
        local = Path(tmp) / name
        local.write_bytes(data)
        art = Artifact(local, description=name, kind=kind)
        assert art._pending is not None
        art._pending.use_current_run = False
        art._pending.tmp_dir = tmp  # a temporary file: no location, removed once saved
        return art.save()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

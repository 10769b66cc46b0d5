"""Reading collections: local paths, concatenated objects, Arrow datasets, mapped datasets.

Data flow is tracked at the collection level: members are read with
``is_run_input=False`` and, once reading succeeded, the collection is linked as an input
of the current run (``run_input_collection``), as lamindb does.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from ..artifact.artifact import Artifact
from ..errors import ValidationError
from ..optional import require
from ..run.run import get_current_run
from ..storage.backends import FsspecBackend
from .mapped import MappedCollection
from .save import link_collection_inputs

if TYPE_CHECKING:
    from .collection import Collection

Join = Literal["inner", "outer"]

_ARROW_FORMATS = {".parquet": "parquet", ".csv": "csv", ".feather": "feather",
                  ".arrow": "ipc", ".ipc": "ipc"}


def members(coll: Collection) -> list[Artifact]:
    """The member artifacts in order (those given to the constructor while unsaved)."""
    pending = getattr(coll, "_pending", None)
    if pending is not None:
        return list(pending.artifacts)
    return coll.ordered_artifacts.all()


def mark_input(coll: Collection, is_run_input: bool | None) -> None:
    """Link a saved collection as an input of the current run unless told not to."""
    if is_run_input is False or coll.id is None:
        return
    run = get_current_run()
    if run is not None:
        link_collection_inputs(run, [coll])


def cache(coll: Collection, is_run_input: bool | None) -> list[Path]:
    """Local paths of every member, in order (remote members are downloaded once)."""
    paths = [a.cache(is_run_input=False) for a in members(coll)]
    mark_input(coll, is_run_input)
    return paths


def load(coll: Collection, join: Join, is_run_input: bool | None, **kwargs: Any) -> Any:
    """Members concatenated: ``pandas.concat`` for DataFrames, ``anndata.concat`` for AnnData.

    AnnData members get a ``label`` column (default ``"artifact_uid"``) naming the member
    each observation came from; ``kwargs`` go to the concat function.
    """
    arts = members(coll)
    objects = [a.load(is_run_input=False) for a in arts]
    kinds = {type(o).__name__ for o in objects}
    if kinds == {"DataFrame"}:
        result = require("pandas", "data").concat(objects, join=join, **kwargs)
    elif kinds == {"AnnData"}:
        label = kwargs.pop("label", "artifact_uid")
        keys = kwargs.pop("keys", [a.uid for a in arts])
        result = require("anndata", "data").concat(
            objects, join=join, label=label, keys=keys, **kwargs)
    else:
        raise ValidationError(
            "load() concatenates DataFrame or AnnData members of one kind; this collection "
            f"loads as {', '.join(sorted(kinds))}: use cache() and read the files yourself"
        )
    mark_input(coll, is_run_input)
    return result


def open_dataset(coll: Collection, is_run_input: bool | None, **kwargs: Any) -> Any:
    """A ``pyarrow.dataset.Dataset`` over the members' files, read where they are stored.

    Members must be files of one Arrow format (parquet, csv, feather/ipc). Members on one
    kind of remote storage are streamed through its fsspec filesystem; a mix of local and
    remote members is cached locally first.
    """
    arts = members(coll)
    formats = {_ARROW_FORMATS.get(a.suffix) for a in arts}
    if len(formats) != 1 or None in formats:
        suffixes = sorted({a.suffix or "<folder>" for a in arts})
        raise ValidationError(
            "open() needs members that are files of one Arrow format (.parquet, .csv, "
            f".feather, .arrow); this collection has {', '.join(suffixes)}"
        )
    dataset = require("pyarrow.dataset", "data")
    storages = [a.storage for a in arts]
    protocols = {s.type for s in storages}
    filesystem = None
    if protocols == {"local"}:
        paths = [a.path for a in arts]
    else:
        backend = _backend(storages[0])
        if len(protocols) == 1 and isinstance(backend, FsspecBackend):
            filesystem = backend.fs
            paths = [a.path.split("://", 1)[1] for a in arts]
        else:
            paths = [str(a.cache(is_run_input=False)) for a in arts]
    result = dataset.dataset(paths, format=formats.pop(), filesystem=filesystem, **kwargs)
    mark_input(coll, is_run_input)
    return result


def _backend(storage: Any) -> Any:
    return storage.backend


def mapped(coll: Collection, is_run_input: bool | None, stream: bool,
           **options: Any) -> MappedCollection:
    """A ``MappedCollection`` over the members' ``.h5ad`` files (see ``Collection.mapped``)."""
    require("numpy", "data")
    require("h5py", "data")
    arts = members(coll)
    others = sorted({a.suffix or "<folder>" for a in arts if a.suffix != ".h5ad"})
    if others:
        raise ValidationError(
            f"mapped() reads .h5ad members only; this collection also has {', '.join(others)}"
        )
    paths = [a.path if stream else str(a.cache(is_run_input=False)) for a in arts]
    result = MappedCollection(paths, **options)
    mark_input(coll, is_run_input)
    return result

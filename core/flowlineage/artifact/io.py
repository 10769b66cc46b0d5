"""Reading artifacts back: local cache, loaders by suffix, and permanent deletion."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, delete, select, update
from sqlalchemy.orm import Session

from ..db import ids, tables
from ..db.engine import get_instance
from ..db.tables import collection_artifact
from ..errors import ValidationError
from ..optional import require

if TYPE_CHECKING:
    from .artifact import Artifact


def cache_path(art: Artifact) -> Path:
    """Local path of the content; remote content is downloaded once into the cache."""
    inst = get_instance()
    storage = art.storage
    if storage.type == "local":
        return Path(storage.root) / art._storage_key
    target = inst.settings.home / "cache" / storage.uid / art._storage_key
    if target.exists() and (art.n_files is not None or target.stat().st_size == art.size):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    if partial.exists():
        shutil.rmtree(partial) if partial.is_dir() else partial.unlink()
    storage.backend.get(art._storage_key, partial)
    partial.rename(target)
    return target


def load_path(path: Path, suffix: str, otype: str | None, **kwargs: Any) -> Any:
    """Load a local file by suffix: parquet/csv/tsv → DataFrame, h5ad → AnnData, json."""
    if suffix == ".parquet":
        return require("pandas", "data").read_parquet(path, **kwargs)
    if suffix in (".csv", ".tsv", ".csv.gz", ".tsv.gz"):
        sep = "\t" if suffix.startswith(".tsv") else ","
        return require("pandas", "data").read_csv(path, sep=sep, **kwargs)
    if suffix == ".h5ad":
        return require("anndata", "data").read_h5ad(path, **kwargs)
    if suffix == ".json":
        with open(path) as f:
            return json.load(f)
    return path


def delete_permanently(art: Artifact, storage: bool | None) -> None:
    """Delete the record, and the bytes when flowlineage owns them (or ``storage=True``)."""
    inst = get_instance()
    with inst.write() as s:
        _refuse_if_collected(s, art)
        run, artifact = tables.run, tables.artifact
        for col in (run.c.report_id, run.c.environment_id):
            s.execute(update(run).where(col == art.id).values({col.key: None}))
        s.execute(delete(artifact).where(artifact.c.id == art.id))
        if art.is_latest:
            promote_latest(s, artifact, art.stem_uid)
        still_used = s.execute(
            select(artifact.c.id).where(artifact.c.storage_id == art.storage_id,
                                        artifact.c._storage_key == art._storage_key)
        ).first()
    remove_bytes = art._key_is_virtual if storage is None else storage
    if remove_bytes and still_used is None:
        art.storage.backend.delete(art._storage_key)


def _refuse_if_collected(s: Session, art: Artifact) -> None:
    """Collections pin their members and meta artifact (lamindb's ``PROTECT``)."""
    members = select(collection_artifact.c.collection_id).where(
        collection_artifact.c.artifact_id == art.id)
    coll = tables.collection
    uids = s.scalars(select(coll.c.uid).where(
        (coll.c.meta_artifact_id == art.id) | coll.c.id.in_(members)).limit(5)).all()
    if uids:
        raise ValidationError(f"artifact {art.uid} belongs to collection(s) {', '.join(uids)}: "
                              "delete them permanently first")


def promote_latest(s: Session, table: Table, stem: str) -> None:
    """Mark the newest remaining version of a family as ``is_latest``."""
    c = table.c
    newest = s.execute(
        select(c.id).where(c.uid >= stem, c.uid < ids.family_upper_bound(stem))
        .order_by(c.uid.desc()).limit(1)
    ).scalar()
    if newest is not None:
        s.execute(update(table).where(c.id == newest).values(is_latest=True))

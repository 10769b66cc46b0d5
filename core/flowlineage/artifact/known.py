"""Registering artifacts whose content hash is already known (orchestrator checksums,
bulk loads), without reading their bytes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..db import ids, tables
from ..db.engine import get_instance, insert_ignore
from ..db.enums import Branch
from ..db.schema import utcnow
from ..storage.keys import validate_key


def register_artifacts(rows: list[dict[str, Any]]) -> dict[str, int]:
    """Record artifacts whose content hash is already known, without reading their bytes.

    For orchestrator records that carry checksums (e.g. Nextflow's lineage store) and for
    bulk loads. Each row needs ``hash``, ``_hash_type``, ``storage_id`` and ``_storage_key``
    (the path under the storage root); ``key``, ``size``, ``suffix``, ``run_id``, ``n_files``,
    ``kind`` and ``description`` are optional. Existing hashes are left as they are
    (idempotent). Returns the artifact id of every hash.
    """
    inst = get_instance()
    now = utcnow()
    prepared = []
    for row in rows:
        validate_key(row["_storage_key"])
        if row.get("key") is not None:
            validate_key(row["key"])
        prepared.append({
            "uid": ids.new_uid(ids.VERSIONED_STEM_LEN, True), "key": None, "description": None,
            "suffix": "", "kind": None, "otype": None, "size": None, "n_files": None,
            "run_id": None, "version": None, "is_latest": True,
            "_branch_code": int(Branch.main), "_key_is_virtual": False,
            "created_at": now, "updated_at": now, **row,
        })
    result: dict[str, int] = {}
    if not prepared:
        return result
    table = tables.artifact
    with inst.write() as s:
        for start in range(0, len(prepared), 5000):
            s.execute(insert_ignore(inst.dialect, table), prepared[start : start + 5000])
        hashes = list(dict.fromkeys(r["hash"] for r in prepared))
        for start in range(0, len(hashes), 500):
            part = hashes[start : start + 500]
            for digest, art_id in s.execute(select(table.c.hash, table.c.id)
                                            .where(table.c.hash.in_(part))):
                result[digest] = art_id
    return result

"""Saving artifacts: locate and hash the content, deduplicate, version, store, insert.

Order of work: snapshot (one read that hashes the bytes and stages their copy) → look up
the hash (dedup) → move the copy under its key → insert the record in one write
transaction. A unique constraint on ``hash`` settles races between concurrent writers: the
loser adopts the winner's artifact per conflicting item, drops its copy, and keeps the rest
of its batch. Copies of a failed save are removed.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, Table, bindparam, exc, insert, select
from sqlalchemy.engine import Connection
from sqlalchemy.orm import make_transient_to_detached

from ..db import ids, tables
from ..db.direct import fetch, send_many
from ..db.engine import Instance, get_instance
from ..db.enums import Branch
from ..db.record import entity
from ..db.schema import utcnow
from ..db.tables import artifact_recreating_run
from ..db.versioning import adopt_saved, lock_families, next_version
from ..errors import ValidationError
from ..plugins import hook, notify
from ..run.run import Run, get_current_run
from ..storage.backends import backend_for
from ..storage.files import require_regular
from ..storage.hashing import FOLDER_HASH_TYPE, HASH_TYPE, hash_file, hash_folder
from ..storage.keys import suffix, validate_key
from ..storage.roots import Storage, default_storage, register_storage, root_of
from ..storage.snapshot import Snapshot, take_snapshot
from .locations import record_locations, this_host

if TYPE_CHECKING:
    from .artifact import Artifact

VIRTUAL_PREFIX = ".flowlineage"
_COPY_WORKERS = min(8, os.cpu_count() or 1)
"""Threads hashing and copying a bulk save's files (or reading remote ones); files registered
in place are hashed in the calling thread. Measured on 2 cores with 1 KiB files: in place,
1 thread ~8,000/s against 2-8 threads 5,000-7,000/s (hashing small files is GIL-bound);
copied, 1-8 threads within noise of each other (file creation dominates)."""
_INSERT_ATTEMPTS = 5  # rounds of "adopt what concurrent writers stored, insert the rest"


@dataclass
class Pending:
    """What an unsaved artifact was made from, until ``save()`` stores it."""

    source: str  # local path or remote URL
    is_dir: bool
    remote: bool
    run: Run | None
    revises: Artifact | None
    tmp_dir: str | None = None
    use_current_run: bool = True


def prepare(
    art: Artifact,
    data: Any,
    key: str | None,
    description: str | None,
    run: Run | bool | None,
    revises: Artifact | None,
    kind: str | None,
    version: str | None,
) -> Pending:
    """Fill an unsaved artifact's fields from ``data`` (path, URL, DataFrame or AnnData)."""
    if key is not None:
        validate_key(key)
    if revises is not None and revises.id is None:
        raise ValidationError("revises= must be a saved artifact")
    tmp_dir = None
    otype = None
    if isinstance(data, str | os.PathLike):
        source = os.fspath(data)
    else:
        source, tmp_dir, otype = _serialize(data)
    remote = "://" in source
    if remote:
        is_dir = source.endswith("/")
        source = source.rstrip("/")
    else:
        path = os.path.expanduser(source)
        try:
            st = os.stat(path)
        except FileNotFoundError:
            raise ValidationError(f"no file or folder at {source}") from None
        require_regular(path, st)
        source = os.path.abspath(path)  # symlinks are resolved when saved (``resolve_sources``)
        is_dir = stat.S_ISDIR(st.st_mode)
    name = source.rsplit("/", 1)[-1]
    _set(art, key=key, description=description, kind=kind, version=version, otype=otype,
         suffix="" if is_dir else suffix(key or name), _branch_code=Branch.main,
         is_latest=True)
    if isinstance(run, bool):  # lamindb's run=False: no creating run, not even the current one
        return Pending(source, is_dir, remote, None, revises, tmp_dir, use_current_run=run)
    return Pending(source, is_dir, remote, run, revises, tmp_dir)


def _set(art: Artifact, **values: Any) -> None:
    """Set column values of an unsaved artifact without the ORM's per-attribute change
    tracking (the save hot path's largest cost); once saved, the artifact is a detached
    record holding these values."""
    art.__dict__.update(values)


def _serialize(data: Any) -> tuple[str, str, str]:
    """Write an in-memory object to a temp file: DataFrame → parquet, AnnData → h5ad."""
    kind = type(data).__name__
    module = type(data).__module__
    tmp_dir = tempfile.mkdtemp(prefix="fl-obj-")
    if kind == "DataFrame" and module.startswith("pandas"):
        path = os.path.join(tmp_dir, "data.parquet")
        data.to_parquet(path)
        return path, tmp_dir, "DataFrame"
    if kind == "AnnData":
        path = os.path.join(tmp_dir, "data.h5ad")
        data.write_h5ad(path)
        return path, tmp_dir, "AnnData"
    if isinstance(data, dict | list):
        path = os.path.join(tmp_dir, "data.json")
        with open(path, "w") as f:
            json.dump(data, f, sort_keys=True)
        return path, tmp_dir, "dict" if isinstance(data, dict) else "list"
    os.rmdir(tmp_dir)
    raise ValidationError(
        f"cannot make an artifact from {module}.{kind}: give a path, URL, DataFrame or AnnData"
    )


# ---------------------------------------------------------------- location and hash


def locate(inst: Instance, pending: Pending) -> tuple[Storage, str | None]:
    """The storage of the content and its key there if it is already inside a root."""
    source = pending.source
    found = root_of(source, inst)
    if found is not None:
        return found
    if pending.remote:  # an object outside every root: register its bucket, keep it in place
        scheme, rest = source.split("://", 1)
        bucket = f"{scheme}://{rest.split('/', 1)[0]}"
        return register_storage(bucket), source[len(bucket) + 1 :]
    return default_storage(inst), None


def compute_hash(inst: Instance, art: Artifact, pending: Pending, storage: Storage,
                 key: str | None) -> Snapshot | None:
    """Set ``hash``, ``_hash_type``, ``size`` and ``n_files`` from the full content.

    Local content to copy (``key`` None) is read once into a snapshot whose staged bytes are
    the hashed ones; it is returned for ``_upload`` (or ``discard``).
    """
    snapshot = None
    if pending.remote:
        assert key is not None
        digest, size, n_files = storage.backend.content_hash(key)
        is_dir = n_files is not None
    elif key is None:
        snapshot = take_snapshot(pending.source, pending.is_dir, storage.backend.staging())
        digest, size, n_files = snapshot.digest, snapshot.size, snapshot.n_files
        is_dir = pending.is_dir
    elif pending.is_dir:
        digest, size, n_files = hash_folder(pending.source)
        is_dir = True
    else:
        digest, size = hash_file(pending.source)
        n_files, is_dir = None, False
    _set(art, hash=digest, size=size, n_files=n_files,
         _hash_type=FOLDER_HASH_TYPE if is_dir else HASH_TYPE)
    if is_dir:
        pending.is_dir = True
        _set(art, suffix="")
    return snapshot


# ---------------------------------------------------------------- saving


@dataclass
class _Job:
    """One artifact of a save with what it was made from and where it goes."""

    art: Artifact
    pending: Pending
    storage: Storage
    key: str | None
    snapshot: Snapshot | None = None
    uploaded: bool = False

    @property
    def digest(self) -> str:
        """The content hash (read without the ORM's attribute instrumentation)."""
        digest: str = self.art.__dict__["hash"]
        return digest


def save_one(art: Artifact) -> Artifact:
    """Save one artifact (see ``Artifact.save``) in one write transaction."""
    inst = get_instance()
    assert art._pending is not None
    art._pending.source = resolve_sources([art._pending])[0]
    job = _Job(art, art._pending, *locate(inst, art._pending))
    job.snapshot = compute_hash(inst, art, job.pending, job.storage, job.key)
    run = _run_for(job.pending)
    try:
        if job.key is None and job.storage.type != "local":  # an upload: look first
            found = find_by_hash(inst, art.hash)
            if found is not None:
                return _adopt_existing(inst, art, found, run)
        _assign_location(art, job.storage, job.key)
        job.uploaded = _upload(inst, art, job.pending, job.storage, job.snapshot)
        lost = _insert(inst, [job])
    finally:
        _discard([job])
    if lost:
        return _adopt_existing(inst, art, lost[0][1], run)
    _saved([job])
    return art


def save_many(artifacts: list[Artifact], max_workers: int | None = None) -> list[Artifact]:
    """Save many artifacts in one transaction, hashing and copying in parallel threads
    (``_COPY_WORKERS``) when bytes are copied or remote."""
    inst = get_instance()
    pendings = [a._pending for a in artifacts if a._pending is not None]
    for pending, source in zip(pendings, resolve_sources(pendings), strict=True):
        pending.source = source
    jobs = [_Job(a, a._pending, *locate(inst, a._pending)) for a in artifacts
            if a._pending is not None]
    workers = max_workers or (
        _COPY_WORKERS if any(j.key is None or j.pending.remote for j in jobs) else 1)
    try:
        _in_chunks(workers, jobs, lambda j: _snapshot(inst, j))
        remote = [j.digest for j in jobs if j.key is None and j.storage.type != "local"]
        existing = _existing_by_hash(inst, remote)  # uploads: look first
        fresh: dict[str, _Job] = {}
        adopted: list[tuple[_Job, Artifact]] = []
        for job in jobs:
            digest = job.digest
            if digest in existing:
                adopted.append((job, existing[digest]))
            elif digest in fresh:  # the same content twice in one batch
                adopted.append((job, fresh[digest].art))
            else:
                _assign_location(job.art, job.storage, job.key)
                fresh[digest] = job
        _in_chunks(workers, list(fresh.values()), lambda j: _upload_job(inst, j))
        lost = _insert(inst, list(fresh.values()))
    finally:
        _discard(jobs)
    lost_ids = {id(job) for job, _ in lost}
    _saved([job for job in fresh.values() if id(job) not in lost_ids])
    # the lost first: a duplicate inside the batch may adopt a job that lost its own race
    _adopt_all(inst, [(job.art, target, _run_for(job.pending)) for job, target in lost + adopted])
    return artifacts


def resolve_sources(pendings: list[Pending]) -> list[str]:
    """The local sources with symlinks resolved (each folder once), URLs as they are."""
    folders: dict[str, str] = {}
    out = []
    for pending in pendings:
        source = pending.source
        if pending.remote or os.path.islink(source):
            out.append(source if pending.remote else os.path.realpath(source))
            continue
        head, tail = os.path.split(source)
        real = folders.get(head)
        if real is None:
            real = folders[head] = os.path.realpath(head)
        out.append(os.path.join(real, tail))
    return out


def _saved(jobs: list[_Job]) -> None:
    """Make the inserted artifacts saved records and tell the plugins (when any listens)."""
    saved = hook().flowlineage_artifact_saved
    listening = bool(saved.get_hookimpls())
    for job in jobs:
        make_transient_to_detached(job.art)
        _finish(job.art)
        if listening:
            notify(saved, artifact=job.art, run=_run_for_id(job.art.run_id))


def _snapshot(inst: Instance, job: _Job) -> None:
    job.snapshot = compute_hash(inst, job.art, job.pending, job.storage, job.key)


def _upload_job(inst: Instance, job: _Job) -> None:
    job.uploaded = _upload(inst, job.art, job.pending, job.storage, job.snapshot)


def _insert(inst: Instance, jobs: list[_Job]) -> list[tuple[_Job, Artifact]]:
    """Insert the jobs' records in one write transaction, versions numbered under lock.

    Content a concurrent writer stored first is not inserted: those jobs are returned with
    the winner's artifact, to adopt, and their copies are removed. A failure removes
    every copy made for the jobs.
    """
    lost: list[_Job] = []
    try:
        with inst.write_connection() as conn:
            lock_families(conn, inst.dialect, tables.artifact, _family_names(jobs))
            for attempt in range(_INSERT_ATTEMPTS):
                stored = _stored(conn, [j.digest for j in jobs])
                lost += [j for j in jobs if j.digest in stored]
                jobs = [j for j in jobs if j.digest not in stored]
                if inst.dialect == "sqlite":  # BEGIN IMMEDIATE: no writer can conflict
                    _insert_rows(conn, jobs)
                    break
                try:
                    with conn.begin_nested():  # a conflict rolls back to here, then adopts
                        _insert_rows(conn, jobs)
                    break
                except exc.IntegrityError:
                    if attempt == _INSERT_ATTEMPTS - 1:
                        raise
    except BaseException:
        _delete_copies(jobs + lost)
        raise
    _delete_copies(lost)
    winners = _existing_by_hash(inst, [j.digest for j in lost])
    return [(j, winners[j.digest]) for j in lost]


def _family_names(jobs: list[_Job]) -> list[str | None]:
    """The keys and revised uid stems whose version families the jobs may extend."""
    names: list[str | None] = []
    for job in jobs:
        names.append(job.art.__dict__["key"])
        if job.pending.revises is not None:
            names += [job.pending.revises.key, job.pending.revises.uid[: ids.VERSIONED_STEM_LEN]]
    return names


def _insert_rows(conn: Connection, jobs: list[_Job]) -> None:
    """Insert the artifact rows (one statement) and their locations (one more)."""
    if not jobs:
        return
    latest = _latest_by_key(conn, [j.art for j in jobs])
    for job in jobs:
        values = job.art.__dict__
        _assign_version(conn, job.art, job.pending,
                        latest.get((values["storage_id"], values["key"])))
        run = _run_for(job.pending)
        _set(job.art, run_id=run.id if run is not None else None)
    rows = [_row(j.art) for j in jobs]
    if len(jobs) == 1:
        _set(jobs[0].art, id=fetch(conn, _statements()["insert_one"], rows[0],
                                   _column_keys())[0][0])
    else:
        send_many(conn, _statements()["insert"], rows)
        new_ids = _stored(conn, [j.digest for j in jobs])
        for job in jobs:
            _set(job.art, id=new_ids[job.digest])
    record_locations((row for job in jobs for row in _location_rows(
        job.art, job.pending, job.storage, _run_for(job.pending))), conn)


def _delete_copies(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.uploaded:
            job.storage.backend.delete(job.art._storage_key)
            job.uploaded = False


def _discard(jobs: list[_Job]) -> None:
    for job in jobs:
        if job.snapshot is not None:
            job.snapshot.discard()


def _in_chunks(workers: int, jobs: list[_Job], work: Callable[[_Job], object]) -> None:
    """Run ``work`` on every job, one contiguous slice per worker thread (cheap for small
    files), or in this thread for one worker."""
    if workers == 1 or len(jobs) < 2:
        for job in jobs:
            work(job)
        return
    size = max(1, -(-len(jobs) // workers))
    slices = [jobs[i : i + size] for i in range(0, len(jobs), size)]
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(lambda part: [work(j) for j in part], slices))


def _row(a: Artifact) -> dict[str, Any]:
    now = utcnow()
    _set(a, created_at=now, updated_at=now)
    values = a.__dict__  # loaded column values live here; reading them skips instrumentation
    return {key: values.get(key) for key in _column_keys()}


@cache
def _column_keys() -> tuple[str, ...]:
    return tuple(c.key for c in tables.artifact.c if c.key != "id")


def _run_for(pending: Pending) -> Run | None:
    if pending.run is not None or not pending.use_current_run:
        return pending.run
    return get_current_run()


def _run_for_id(run_id: int | None) -> Run | None:
    run = get_current_run()
    return run if run is not None and run.id == run_id else None


@cache
def _statements() -> dict[str, Any]:
    """Statements of the save hot path, built once so they are compiled once."""
    table, model = tables.artifact, entity(tables.artifact)
    return {
        "table": table,
        "by_hash": select(model).where(model.hash == bindparam("digest")),
        "id_by_hash": select(table.c.hash, table.c.id).where(table.c.hash == bindparam("digest")),
        "ids_by_hashes": select(table.c.hash, table.c.id).where(
            table.c.hash.in_(bindparam("digests", expanding=True))),
        "by_hashes": select(model).where(model.hash.in_(bindparam("digests", expanding=True))),
        "latest_of_key": _latest(table).where(table.c.key == bindparam("key")),
        "latest_by_key": _latest(table).where(table.c.key.in_(bindparam("keys", expanding=True))),
        "insert": insert(table),
        "insert_one": insert(table).returning(table.c.id),
    }


def _latest(table: Table) -> Select[tuple[str, str, int]]:
    """The latest main-branch versions by key, with their storage (compared in Python: with
    ``storage_id`` in the clause SQLite scans the storage's artifacts instead of seeking the
    (key, is_latest) index)."""
    return select(table.c.key, table.c.uid, table.c.storage_id).where(
        table.c.is_latest == True, table.c._branch_code == Branch.main  # noqa: E712
    ).order_by(table.c.id)


def _stored(conn: Connection, digests: list[str]) -> dict[str, int]:
    """Ids of the stored artifacts among these hashes, by hash."""
    if len(digests) == 1:
        return dict(fetch(conn, _statements()["id_by_hash"], {"digest": digests[0]}))
    found: dict[str, int] = {}
    for start in range(0, len(digests), 500):
        found.update((digest, id_) for digest, id_ in conn.execute(
            _statements()["ids_by_hashes"], {"digests": digests[start : start + 500]}))
    return found


def find_by_hash(inst: Instance, digest: str) -> Artifact | None:
    with inst.read() as s:
        return s.scalars(_statements()["by_hash"], {"digest": digest}).first()


def _existing_by_hash(inst: Instance, digests: list[str]) -> dict[str, Artifact]:
    found: dict[str, Artifact] = {}
    if not digests:
        return found
    with inst.read() as s:
        for chunk in range(0, len(digests), 500):
            part = digests[chunk : chunk + 500]
            for a in s.scalars(_statements()["by_hashes"], {"digests": part}):
                found[a.hash] = a
    return found


def _assign_location(art: Artifact, storage: Storage, in_place_key: str | None) -> None:
    if in_place_key is not None:
        _set(art, storage_id=storage.id, _storage_key=in_place_key, _key_is_virtual=False)
        if art.__dict__.get("key") is None:
            _set(art, key=in_place_key)
    else:
        if not art.__dict__.get("uid"):
            _set(art, uid=ids.new_uid(ids.VERSIONED_STEM_LEN, True))
        values = art.__dict__
        _set(art, storage_id=storage.id, _key_is_virtual=True,
             _storage_key=f"{VIRTUAL_PREFIX}/{values['uid']}{values['suffix']}")


def _upload(inst: Instance, art: Artifact, pending: Pending, storage: Storage,
            snapshot: Snapshot | None) -> bool:
    """Store bytes under the artifact's new key when they are not in place; True if stored."""
    if not art._key_is_virtual:
        return False
    backend = storage.backend
    if snapshot is not None:
        backend.put_snapshot(snapshot, art._storage_key)
        return True
    with tempfile.TemporaryDirectory(prefix="fl-copy-") as tmp:  # a remote source
        local = Path(tmp) / "content"
        scheme_root = pending.source.rsplit("/", 1)[0]
        backend_for(scheme_root).get(pending.source.rsplit("/", 1)[1], local)
        if pending.is_dir:
            backend.put_folder(local, art._storage_key)
        else:
            backend.put_file(local, art._storage_key)
    return True


def _latest_by_key(
    conn: Connection, artifacts: list[Artifact]
) -> dict[tuple[int, str], tuple[str, str]]:
    """``(key, uid)`` of the latest main-branch artifact by ``(storage_id, key)`` for the keys
    among ``artifacts``."""
    wanted = {(v["storage_id"], v["key"]) for v in (a.__dict__ for a in artifacts)
              if v["key"] is not None}
    keys = list({key for _, key in wanted})
    if len(keys) == 1:
        rows = fetch(conn, _statements()["latest_of_key"], {"key": keys[0]})
    else:
        rows = [row for start in range(0, len(keys), 500) for row in conn.execute(
            _statements()["latest_by_key"], {"keys": keys[start : start + 500]})]
    return {(storage_id, key): (key, uid) for key, uid, storage_id in rows
            if (storage_id, key) in wanted}


def _assign_version(conn: Connection, art: Artifact, pending: Pending,
                    latest_same_key: tuple[str, str] | None) -> None:
    """Give ``art`` its uid: a new family, or the next version of ``revises``/its key."""
    previous = (
        (pending.revises.key, pending.revises.uid) if pending.revises is not None
        else latest_same_key
    )
    if previous is None:
        if not getattr(art, "uid", None):
            _set(art, uid=ids.new_uid(ids.VERSIONED_STEM_LEN, True))
        return
    prev_key, prev_uid = previous
    _set(art, uid=next_version(conn, _statements()["table"], prev_uid, ids.VERSIONED_STEM_LEN),
         is_latest=True)
    if art.key is None:
        _set(art, key=prev_key)


def _adopt_existing(inst: Instance, art: Artifact, existing: Artifact, run: Run | None) -> Artifact:
    """Make ``art`` stand for the already-saved ``existing`` and link ``run`` as recreating."""
    _adopt_all(inst, [(art, existing, run)])
    return art


def _adopt_all(inst: Instance, pairs: list[tuple[Artifact, Artifact, Run | None]]) -> None:
    """``_adopt_existing`` for each ``(art, existing, run)``, in one write transaction."""
    if not pairs:
        return
    with inst.write() as s:
        for art, existing, run in pairs:
            adopt_saved(s, inst.dialect, art, existing, run, artifact_recreating_run,
                        "artifact_id")
        record_locations((row for art, _, run in pairs if art._pending is not None
                          for row in _location_rows(art, art._pending, None, run)),
                         s.connection())
    for art, _, run in pairs:
        _finish(art)
        notify(hook().flowlineage_artifact_saved, artifact=art, run=run)


def _location_rows(art: Artifact, pending: Pending, storage: Storage | None,
                   run: Run | None) -> list[dict[str, Any]]:
    """Where the bytes were saved from, written by ``run`` (not the temporary file of an
    in-memory object), and the copy flowlineage made in ``storage`` (written by no run).
    Both places are normalized already (sources by ``resolve_sources``, roots resolved)."""
    rows = []
    if pending.tmp_dir is None:
        rows.append({"artifact_id": art.id, "path": pending.source, "size": art.size,
                     "host": None if pending.remote else this_host(),
                     "run_id": run.id if run is not None else None})
    if storage is not None and art._key_is_virtual:
        rows.append({"artifact_id": art.id, "path": f"{storage.root}/{art._storage_key}",
                     "size": art.size, "run_id": None,
                     "host": this_host() if storage.type == "local" else None})
    return rows


def _finish(art: Artifact) -> None:
    pending: Pending | None = getattr(art, "_pending", None)
    art._pending = None
    if pending is not None and pending.tmp_dir is not None:
        import shutil

        shutil.rmtree(pending.tmp_dir, ignore_errors=True)

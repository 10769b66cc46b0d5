"""Locations: every place an artifact's bytes were seen, found again by path or by content."""

from __future__ import annotations

import os
import shutil
import socket
import time
from datetime import UTC, datetime
from pathlib import Path

import flowlineage as fl
import pytest
from alembic import command
from flowlineage.adapters import get_or_create_transform, record_locations, upsert_runs
from flowlineage.artifact.locations import Location
from flowlineage.db import migrations, tables
from flowlineage.db.engine import Instance
from flowlineage.errors import DoesNotExist, StorageError, ValidationError
from sqlalchemy import create_engine, func, select


def _run(name: str) -> fl.Run:
    tf = get_or_create_transform(f"test:{name}", type="script")
    ids = upsert_runs([{"transform_id": tf.id, "reference_type": "test", "reference": name,
                        "status": "completed"}])
    return fl.Run.get(ids[("test", name)])


def _write(path: Path, text: str, mtime: float | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


def _places(art: fl.Artifact) -> dict[str, int | None]:
    return {loc.path: loc.run_id for loc in art.locations}


def test_a_copy_by_another_run_adds_a_location_with_that_run(any_instance: Instance,
                                                             tmp_path: Path) -> None:
    writer, copier = _run("writer"), _run("copier")
    first = fl.Artifact(_write(tmp_path / "a.csv", "x\n1\n"), key="a.csv", run=writer).save()
    shutil.copy(tmp_path / "a.csv", tmp_path / "b.csv")
    second = fl.Artifact(tmp_path / "b.csv", key="b.csv", run=copier).save()
    assert second.id == first.id  # content stays one artifact
    places = _places(first)
    assert places[str(tmp_path / "a.csv")] == writer.id
    assert places[str(tmp_path / "b.csv")] == copier.id
    assert [r.id for r in first.recreating_runs] == [copier.id]
    copy = fl.Artifact.get(path=tmp_path / "b.csv")
    assert copy.id == first.id and copy.matched_by == "location"
    by_path = {loc.path: loc for loc in copy.locations}
    assert by_path[str(tmp_path / "b.csv")].run is not None
    assert by_path[str(tmp_path / "b.csv")].run.id == copier.id  # type: ignore[union-attr]
    storage_copies = [p for p, run in places.items() if p.startswith(
        os.path.realpath(any_instance.storage_root))]
    assert len(storage_copies) == 1 and places[storage_copies[0]] is None


def test_relative_absolute_and_file_uri_paths_resolve_alike(
        instance: Instance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    art = fl.Artifact(_write(tmp_path / "d" / "x.txt", "hello"), key="x.txt").save()
    monkeypatch.chdir(tmp_path)
    for given in ("d/x.txt", "./d/../d/x.txt", str(tmp_path / "d" / "x.txt"),
                  f"file://{tmp_path}/d/x.txt", Path("d/x.txt")):
        assert fl.Artifact.get(path=given).id == art.id, given
    assert fl.Artifact.filter(path="d/x.txt", key="x.txt").count() == 1
    assert fl.Artifact.filter(path="d/x.txt", key="other").count() == 0


def test_a_path_history_is_newest_first_even_when_content_comes_back(
        instance: Instance, tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    a = fl.Artifact(_write(path, "a\n"), key="out.csv").save()
    b = fl.Artifact(_write(path, "b\n"), key="out.csv").save()
    assert [x.id for x in fl.Artifact.filter(path=path)] == [b.id, a.id]
    fl.Artifact(_write(path, "a\n"), key="out.csv").save()
    assert [x.id for x in fl.Artifact.filter(path=path)] == [a.id, b.id]
    assert fl.Artifact.get(path=path).id == a.id
    assert [loc.state() for loc in a.locations if loc.path == str(path)] == ["unchanged"]
    assert [loc.state() for loc in b.locations if loc.path == str(path)] == ["modified"]


def test_edits_are_found_by_size_and_mtime_then_by_hash(instance: Instance,
                                                        tmp_path: Path) -> None:
    path = _write(tmp_path / "e.txt", "abcd", mtime=1_000_000)
    art = fl.Artifact(path, key="e.txt").save()
    (loc,) = [loc for loc in art.locations if loc.path == str(path)]
    assert loc.mtime == 1_000_000 and loc.size == 4
    assert loc.state() == "unchanged"
    _write(path, "abcd", mtime=2_000_000)  # touched, same bytes: the hash decides
    assert loc.state() == "unchanged"
    _write(path, "wxyz", mtime=1_000_000)  # same size and mtime: only verify sees it
    assert loc.state() == "unchanged"
    assert loc.state(verify=True) == "modified"
    _write(path, "abcde")
    assert loc.state() == "modified"


def test_moves_and_deletions(instance: Instance, tmp_path: Path) -> None:
    run = _run("mover")
    path = _write(tmp_path / "m.txt", "moving bytes")
    art = fl.Artifact(path, key="m.txt", run=run).save()
    moved = tmp_path / "sub" / "moved.txt"
    moved.parent.mkdir()
    path.rename(moved)
    (old,) = [loc for loc in art.locations if loc.path == str(path)]
    assert old.state() == "missing"
    assert fl.Artifact.get(path=path).id == art.id  # the record of where it was stays
    found = fl.Artifact.get(path=moved)  # never recorded: by content, and it says so
    assert found.id == art.id and found.matched_by == "content"
    assert fl.Artifact.filter(path=moved).count() == 1
    assert str(moved) not in _places(art)  # looking up writes nothing
    fl.Artifact(moved, run=False).save()
    assert _places(art)[str(moved)] is None  # read there, not written
    assert _places(art)[str(path)] == run.id


def test_symlinks_resolve_to_their_target(instance: Instance, tmp_path: Path) -> None:
    target = _write(tmp_path / "real" / "t.txt", "target bytes")
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    art = fl.Artifact(link, key="t.txt").save()
    assert str(target) in _places(art) and str(link) not in _places(art)
    assert fl.Artifact.get(path=link).matched_by == "location"
    folder_link = tmp_path / "dirlink"
    folder_link.symlink_to(target.parent, target_is_directory=True)
    assert fl.Artifact.get(path=folder_link / "t.txt").id == art.id


def test_a_folder_resolves_to_its_folder_artifact(instance: Instance, tmp_path: Path) -> None:
    _write(tmp_path / "f" / "one.txt", "1")
    _write(tmp_path / "f" / "two.txt", "2")
    folder = fl.Artifact(tmp_path / "f", key="f").save()
    assert fl.Artifact.get(path=tmp_path / "f").id == folder.id
    (loc,) = [loc for loc in folder.locations if loc.path == str(tmp_path / "f")]
    assert loc.size == 2 and loc.state() == "unchanged"
    _write(tmp_path / "f" / "two.txt", "22")
    assert loc.state() == "modified"
    shutil.rmtree(tmp_path / "f")
    assert loc.state() == "missing"


def test_in_memory_objects_have_only_their_storage_copy(instance: Instance) -> None:
    art = fl.Artifact({"a": 1}, key="obj.json").save()
    (loc,) = art.locations
    assert loc.path == os.path.realpath(art.path) and loc.run_id is None
    assert loc.host == socket.gethostname() and loc.state() == "unchanged"


def test_recording_again_refreshes_and_keeps_the_writer(instance: Instance,
                                                        tmp_path: Path) -> None:
    run = _run("w")
    path = _write(tmp_path / "r.txt", "r")
    art = fl.Artifact(path, key="r.txt", run=run).save()
    before = [loc for loc in art.locations if loc.path == str(path)][0]
    time.sleep(0.01)
    assert record_locations([{"artifact_id": art.id, "path": str(path)}] * 2) == 1
    (after,) = [loc for loc in art.locations if loc.path == str(path)]
    assert after.id == before.id and after.run_id == run.id
    assert after.recorded_at > before.recorded_at
    with instance.connection() as conn:
        assert conn.execute(select(func.count()).select_from(
            tables.artifact_location)).scalar_one() == len(art.locations.all())


def test_bad_paths_name_the_path_and_write_nothing(instance: Instance, tmp_path: Path) -> None:
    with pytest.raises(DoesNotExist, match="nowhere.txt"):
        fl.Artifact.get(path=tmp_path / "nowhere.txt")
    unknown = _write(tmp_path / "unknown.txt", "never saved")
    with pytest.raises(DoesNotExist, match="unknown.txt was never recorded"):
        fl.Artifact.get(path=unknown)
    with pytest.raises(DoesNotExist, match="unknown.txt"):
        fl.Artifact.filter(path=unknown)
    with pytest.raises(ValidationError, match="empty path"):
        fl.Artifact.get(path="")
    with pytest.raises(ValidationError, match="not both"):
        fl.Artifact.get(1, path=unknown)
    assert Location.filter().count() == 0


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every file")
def test_permission_denied_is_a_storage_error(instance: Instance, tmp_path: Path) -> None:
    secret = _write(tmp_path / "secret.txt", "s")
    secret.chmod(0)
    with pytest.raises(StorageError, match="secret.txt"):
        fl.Artifact.get(path=secret)


def test_s3_locations(s3_instance: Instance, s3_fs: object, s3_bucket: str,
                      tmp_path: Path) -> None:
    fs = s3_fs
    fs.pipe(f"{s3_bucket}/ext/data.csv", b"a,b\n1,2\n")  # type: ignore[attr-defined]
    uri = f"s3://{s3_bucket}/ext/data.csv"
    remote = fl.Artifact(uri).save()
    (loc,) = remote.locations
    assert (loc.path, loc.host, loc.size) == (uri, None, 8)
    assert loc.state() == "unchanged" and loc.state(verify=True) == "unchanged"
    fl.Artifact(uri).save()  # seen again: refreshed, not duplicated (no host: NULL)
    assert len(remote.locations.all()) == 1
    assert fl.Artifact.get(path=uri).id == remote.id
    local = fl.Artifact(_write(tmp_path / "up.txt", "uploaded"), key="up.txt").save()
    assert {loc.host for loc in local.locations} == {None, socket.gethostname()}
    (copy,) = [loc for loc in local.locations if loc.host is None]
    assert copy.path == local.path and copy.state() == "unchanged"
    fs.pipe(f"{s3_bucket}/other/copy.csv", b"a,b\n1,2\n")  # type: ignore[attr-defined]
    found = fl.Artifact.get(path=f"s3://{s3_bucket}/other/copy.csv")
    assert found.id == remote.id and found.matched_by == "content"
    fs.pipe(f"{s3_bucket}/ext/data.csv", b"a,b\n3,4\n")  # type: ignore[attr-defined]
    assert loc.state() == "modified"
    fs.rm(f"{s3_bucket}/ext/data.csv")  # type: ignore[attr-defined]
    assert loc.state() == "missing"
    with pytest.raises(DoesNotExist, match="nothing was recorded"):
        fl.Artifact.get(path=f"s3://{s3_bucket}/never/there.csv")


def test_migration_backfills_locations_of_existing_artifacts(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    root = str(tmp_path / "store")
    (tmp_path / "store" / "raw").mkdir(parents=True)
    (tmp_path / "store" / "raw" / "in_place.csv").write_text("abc")
    with engine.begin() as conn:
        command.upgrade(migrations.alembic_config(conn), "0001")
    with engine.begin() as conn:
        now = datetime(2024, 1, 1, tzinfo=UTC)
        conn.execute(tables.storage.insert().values(id=1, uid="st01", root=root, type="local",
                                                   created_at=now))
        conn.execute(tables.storage.insert().values(id=2, uid="st02", root="s3://bkt",
                                                   type="s3", created_at=now))
        conn.execute(tables.transform.insert().values(
            id=1, uid="tf0000000000" + "0000", key="old.py", type="script", is_latest=True,
            created_at=now))
        conn.execute(tables.run.insert().values(
            id=1, uid="run0000000000001", transform_id=1, _status_code=0, created_at=now))
        common = {"suffix": ".csv", "_hash_type": "blake3", "is_latest": True,
                  "_branch_code": 1, "created_at": now, "updated_at": now, "size": 3}
        conn.execute(tables.artifact.insert(), [
            {"id": 1, "uid": "a" * 20, "hash": "h1", "storage_id": 1, "run_id": 1,
             "_storage_key": "raw/in_place.csv", "_key_is_virtual": False, **common},
            {"id": 2, "uid": "b" * 20, "hash": "h2", "storage_id": 1, "run_id": 1,
             "_storage_key": ".flowlineage/bbbb.csv", "_key_is_virtual": True, **common},
            {"id": 3, "uid": "c" * 20, "hash": "h3", "storage_id": 2, "run_id": None,
             "_storage_key": "x/y.csv", "_key_is_virtual": False, **common},
        ])
    with engine.begin() as conn:
        command.upgrade(migrations.alembic_config(conn), "head")
        rows = conn.execute(select(
            tables.artifact_location.c.artifact_id, tables.artifact_location.c.path,
            tables.artifact_location.c.host, tables.artifact_location.c.run_id)
            .order_by(tables.artifact_location.c.artifact_id)).tuples().all()
    engine.dispose()
    host = socket.gethostname()
    assert rows == [
        (1, f"{root}/raw/in_place.csv", host, 1),  # in place: its creating run wrote it
        (2, f"{root}/.flowlineage/bbbb.csv", host, None),  # copied by flowlineage
        (3, "s3://bkt/x/y.csv", None, None),
    ]

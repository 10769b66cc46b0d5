"""``flowlineage gc``: copies left by killed saves are listed and removed; referenced,
trashed, in-place, young and unknown files stay. Local storage and S3."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import flowlineage as fl
from flowlineage.cli.app import build_app
from flowlineage.db.engine import Instance, get_instance
from flowlineage.storage.roots import default_storage
from typer.testing import CliRunner, Result

SAVER = """
import sys, flowlineage as fl
fl.connect(storage=sys.argv[3])
print("ready", flush=True)
sys.stdin.readline()
fl.Artifact(sys.argv[1], key=sys.argv[2]).save()
"""
TWO_DAYS = 2 * 86400


def _cli(*args: str) -> Result:
    return CliRunner().invoke(build_app(), list(args), prog_name="flowlineage")


def _stored() -> set[str]:
    """Every file under the default storage root's .flowlineage/ folder."""
    storage = default_storage()
    top = f"{storage.root}/.flowlineage"
    if "://" not in top:
        return {p.as_posix() for p in Path(top).rglob("*") if p.is_file()}
    fs = storage.backend.fs  # type: ignore[attr-defined]
    fs.invalidate_cache()
    scheme = top.split("://")[0]
    return {f"{scheme}://{f}" for f in fs.find(top)} if fs.exists(top) else set()


def _killed_save(tmp_path: Path, name: str) -> str:
    """Save a file in a process killed after its bytes are stored, before its record (this
    test holds the database's write lock, so the insert waits); the orphaned copy's path."""
    source = tmp_path / name
    source.write_text(f"the content of {name}\n")
    before = _stored()
    inst = get_instance()
    with subprocess.Popen([sys.executable, "-c", SAVER, str(source), name, inst.storage_root],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                          env=os.environ.copy()) as proc:
        assert proc.stdin is not None and proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        with inst.write():
            proc.stdin.write("go\n")
            proc.stdin.flush()
            deadline = time.monotonic() + 60
            while not (new := _stored() - before) and time.monotonic() < deadline:
                assert proc.poll() is None
                time.sleep(0.05)
            proc.kill()
            proc.wait(timeout=30)
    assert fl.Artifact.filter(key=name).count() == 0  # no record: an orphaned copy
    assert len(new) == 1
    return new.pop()


def _age(*paths: Path) -> None:
    old = time.time() - TWO_DAYS
    for path in paths:
        os.utime(path, (old, old))


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _file(folder: Path, name: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{name}\n")
    return path


def test_gc_removes_old_unreferenced_copies_only(instance: Instance, tmp_path: Path) -> None:
    root = Path(instance.storage_root)
    kept = fl.Artifact(_file(tmp_path, "a.csv"), key="kept.csv").save()
    kept_v2 = fl.Artifact(_file(tmp_path, "b.csv"), key="kept.csv").save()
    trashed = fl.Artifact(_file(tmp_path, "c.csv"), key="trashed.csv").save()
    trashed.delete()  # in the trash: still referenced
    _file(tmp_path, "folder/x.txt")
    _file(tmp_path, "folder/sub/y.txt")
    folder = Path(fl.Artifact(tmp_path / "folder", key="folder").save().path)
    gone = fl.Artifact(_file(tmp_path, "d.csv"), key="gone.csv").save()
    gone.delete(permanent=True, storage=False)  # the record is gone, its copy stays
    gone_copy = Path(gone.path)
    in_place = fl.Artifact(_file(root, "data/in_place.csv")).save()
    assert not in_place._key_is_virtual
    stray = _file(root, "data/stray.csv")  # a user's file, never registered
    unknown = _file(root, ".flowlineage/notes.txt")  # not a name flowlineage writes
    staged = _file(root, ".flowlineage/staging/tmpkilled/sub/y.txt")  # a killed folder save
    old_orphan = Path(_killed_save(tmp_path, "old.csv"))
    young_orphan = Path(_killed_save(tmp_path, "young.csv"))
    referenced = [Path(a.path) for a in (kept, kept_v2, trashed, in_place)]
    referenced += [p for p in folder.rglob("*") if p.is_file()]  # a folder's files
    assert len(referenced) == 6
    _age(*referenced, stray, unknown, staged, old_orphan, gone_copy)

    dry = _json(_cli("gc", "--dry-run", "--json"))
    garbage = [old_orphan, staged, gone_copy]
    assert {g["path"] for g in dry["garbage"]} == {str(p) for p in garbage}
    assert dry["files"] == 3 and dry["bytes"] == sum(p.stat().st_size for p in garbage)
    table = _cli("gc", "--dry-run")
    assert table.exit_code == 0 and str(old_orphan.name) in table.stdout
    assert "3 unreferenced file(s), would free" in table.stderr
    assert all(p.exists() for p in garbage)

    result = _cli("gc")
    assert result.exit_code == 0, result.output
    assert f"3 unreferenced file(s), freed {dry['bytes']} B" in result.stderr
    assert not any(p.exists() for p in garbage)
    assert not (root / ".flowlineage/staging/tmpkilled").exists()  # emptied folders go too
    assert (root / ".flowlineage/staging").is_dir()
    for path in (*referenced, stray, unknown, young_orphan):
        assert path.exists(), path
    assert Path(fl.Artifact.get(kept_v2.uid).path).read_text() == "b.csv\n"

    assert _json(_cli("gc", "--dry-run", "--json"))["files"] == 0
    assert "1 unreferenced file(s), freed" in _cli("gc", "--grace", "0s").stderr
    assert not young_orphan.exists()


def test_gc_on_s3(s3_instance: Instance, tmp_path: Path) -> None:
    kept = fl.Artifact(_file(tmp_path, "a.csv"), key="kept.csv").save()
    orphan = _killed_save(tmp_path, "orphan.csv")
    storage = ("--storage", s3_instance.storage_root)
    assert _json(_cli(*storage, "gc", "--dry-run", "--json"))["files"] == 0  # young: kept
    dry = _json(_cli(*storage, "gc", "--grace", "0s", "--dry-run", "--json"))
    assert [g["path"] for g in dry["garbage"]] == [orphan]
    result = _cli(*storage, "gc", "--grace", "0s")
    assert result.exit_code == 0 and "1 unreferenced file(s), freed" in result.stderr
    assert _stored() == {kept.path}


def test_gc_rejects_a_bad_grace_period(instance: Instance) -> None:
    result = _cli("gc", "--grace", "soon")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: ")
    assert "'soon' is not a duration" in lines[0] and "--grace" in lines[0]

"""Artifacts: sources, hashing, deduplication, versions, trash, storage placement, inputs."""

from __future__ import annotations

import os
from pathlib import Path

import flowlineage as fl
import pytest
from flowlineage.adapters import register_storage
from flowlineage.db.engine import Instance
from flowlineage.errors import InvalidKey, StorageError, ValidationError
from flowlineage.storage.hashing import hash_file


def _file(tmp_path: Path, name: str, content: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    return path


def test_file_is_copied_into_storage_and_loads(any_instance: Instance, tmp_path: Path) -> None:
    src = _file(tmp_path, "counts.csv", "gene,n\na,1\nb,2\n")
    art = fl.Artifact(src, key="raw/counts.csv", description="counts").save()
    assert art.id is not None and len(art.uid) == 20 and art.uid.endswith("0000")
    assert (art.hash, art.size) == hash_file(src)
    assert art._hash_type == "blake3" and art.suffix == ".csv"
    assert art.path.startswith(any_instance.storage_root + "/.flowlineage/")
    assert Path(art.path).read_bytes() == src.read_bytes()
    df = art.load()
    assert list(df["gene"]) == ["a", "b"]
    assert art.cache() == Path(art.path)
    with art.open() as f:
        assert f.read().startswith(b"gene,n")
    got = fl.Artifact.get(key="raw/counts.csv")
    assert got.id == art.id and got.description == "counts"


def test_folder_hash_and_n_files(instance: Instance, tmp_path: Path) -> None:
    root = tmp_path / "results"
    _file(root, "a.txt", "a")
    _file(root, "sub/b.txt", "b")
    art = fl.Artifact(root, key="results").save()
    assert (art.n_files, art._hash_type, art.suffix, art.size) == (2, "blake3-folder", "", 2)
    cached = art.cache()
    assert (cached / "sub" / "b.txt").read_text() == "b"
    (root / "sub" / "b.txt").write_text("c")
    assert fl.Artifact(root, key="results").save().hash != art.hash


def test_dataframe_and_anndata(instance: Instance) -> None:
    import anndata as ad
    import numpy as np
    import pandas as pd

    df = pd.DataFrame({"x": [1, 2, 3]})
    art = fl.Artifact(df, key="tables/x.parquet").save()
    assert (art.otype, art.suffix) == ("DataFrame", ".parquet")
    pd.testing.assert_frame_equal(art.load(), df)
    adata = ad.AnnData(np.arange(6, dtype="float32").reshape(3, 2))
    a2 = fl.Artifact(adata, key="cells.h5ad").save()
    assert (a2.otype, a2.suffix) == ("AnnData", ".h5ad")
    assert a2.load().shape == (3, 2)
    with pytest.raises(ValidationError, match="cannot make an artifact"):
        fl.Artifact(object())


def test_one_byte_in_the_middle_of_120_mib_changes_the_hash(instance: Instance,
                                                            tmp_path: Path) -> None:
    size = 120 * 2**20
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    block = os.urandom(2**20)
    with open(a, "wb") as fa, open(b, "wb") as fb:
        for i in range(120):
            fa.write(block)
            if i == 60:
                changed = bytearray(block)
                changed[12345] ^= 0xFF
                fb.write(bytes(changed))
            else:
                fb.write(block)
    assert a.stat().st_size == b.stat().st_size == size
    first = fl.Artifact(a).save()
    second = fl.Artifact(b).save()
    assert first.hash != second.hash and first.id != second.id


def test_dedup_links_recreating_run(any_instance: Instance, tmp_path: Path) -> None:
    src = _file(tmp_path, "x.txt", "same")
    with fl.track(transform="writer") as run1:
        first = fl.Artifact(src, key="x.txt").save()
    copy = _file(tmp_path, "elsewhere/y.txt", "same")
    with fl.track(transform="rewriter") as run2:
        again = fl.Artifact(copy, key="y.txt").save()
    assert again.id == first.id and again.run_id == run1.id
    assert [r.id for r in again.recreating_runs] == [run2.id]
    assert run2.query_output_artifacts(include_recreated=False).count() == 0
    assert [a.id for a in run2.query_output_artifacts()] == [first.id]
    assert fl.Artifact.filter().count() == 1 + 2  # + the runs' shared environment and report


def test_versions_by_key_and_revises(any_instance: Instance, tmp_path: Path) -> None:
    src = _file(tmp_path, "model.txt", "v1")
    v1 = fl.Artifact(src, key="models/model.txt").save()
    src.write_text("v2")
    v2 = fl.Artifact(src, key="models/model.txt").save()
    src.write_text("v3")
    v3 = fl.Artifact(src, revises=v2).save()
    assert v2.stem_uid == v1.stem_uid == v3.stem_uid
    assert [v.uid[16:] for v in v3.versions] == ["0000", "0001", "0002"]
    assert [v.is_latest for v in v3.versions] == [False, False, True]
    assert v3.key == "models/model.txt"
    assert fl.Artifact.get(key="models/model.txt", is_latest=True).id == v3.id


def test_trash_and_permanent_delete(any_instance: Instance, tmp_path: Path) -> None:
    art = fl.Artifact(_file(tmp_path, "t.txt", "trash me"), key="t.txt").save()
    path = Path(art.path)
    art.delete()
    assert fl.Artifact.filter(key="t.txt").count() == 0
    assert fl.Artifact.filter(key="t.txt", branch="trash").count() == 1
    art.restore()
    assert fl.Artifact.filter(key="t.txt").count() == 1
    art.delete(permanent=True)
    assert fl.Artifact.filter(key="t.txt", branch="trash").count() == 0
    assert not path.exists()


def test_registered_root_keeps_files_in_place(instance: Instance, tmp_path: Path) -> None:
    workdir = tmp_path / "workflow"
    out = _file(workdir, "results/out.txt", "result")
    register_storage(str(workdir))
    art = fl.Artifact(out).save()
    assert art.key == "results/out.txt" and not art._key_is_virtual
    assert art.path == str(out)
    assert art.storage.root == str(workdir)
    art.delete(permanent=True)
    assert out.exists()  # flowlineage never deletes files it did not copy


def test_inputs_are_linked_once(instance: Instance, tmp_path: Path) -> None:
    art = fl.Artifact(_file(tmp_path, "in.txt", "input"), key="in.txt").save()
    with fl.track(transform="reader") as run:
        art.load()
        art.cache()
        with art.open():
            pass
        fl.Artifact.get(key="in.txt").cache()
    assert [a.id for a in run.input_artifacts] == [art.id]
    assert [r.id for r in art.input_of_runs] == [run.id]


def test_invalid_key_and_missing_path(instance: Instance, tmp_path: Path) -> None:
    src = _file(tmp_path, "k.txt", "k")
    with pytest.raises(InvalidKey):
        fl.Artifact(src, key="../escape.txt")
    with pytest.raises(ValidationError, match="no file"):
        fl.Artifact(tmp_path / "absent.txt")


def test_a_key_with_an_unpaired_surrogate_is_refused_before_copying(
        instance: Instance, tmp_path: Path) -> None:
    src = _file(tmp_path, "s.txt", "surrogate")
    before = sorted(p for p in Path(instance.storage_root).rglob("*") if p.is_file())
    with pytest.raises(InvalidKey, match="unpaired surrogate"):
        fl.Artifact(src, key="dir/a\udcff.txt").save()
    with pytest.raises(InvalidKey, match="unpaired surrogate"):
        fl.save([fl.Artifact(src, key="bulk/\ud800.txt")])
    after = sorted(p for p in Path(instance.storage_root).rglob("*") if p.is_file())
    assert after == before  # no orphaned copy
    assert fl.Artifact.filter().count() == 0


def test_bulk_save(any_instance: Instance, tmp_path: Path) -> None:
    paths = [_file(tmp_path, f"bulk/{i}.txt", f"content {i}") for i in range(50)]
    paths.append(_file(tmp_path, "bulk/dup.txt", "content 3"))
    with fl.track(transform="bulk") as run:
        saved = fl.save([fl.Artifact(p, key=f"bulk/{p.name}") for p in paths])
    assert all(a.id is not None for a in saved)
    assert saved[-1].id == saved[3].id
    assert run.output_artifacts.count() == 50
    assert fl.Artifact.filter(key__startswith="bulk/").count() == 50


def test_s3_objects_register_in_place(s3_instance: Instance, s3_fs: object, s3_bucket: str,
                                      tmp_path: Path) -> None:
    fs = s3_fs
    fs.pipe(f"{s3_bucket}/external/data.csv", b"a,b\n1,2\n")  # type: ignore[attr-defined]
    fs.pipe(f"{s3_bucket}/external/dir/x.txt", b"x")  # type: ignore[attr-defined]
    fs.pipe(f"{s3_bucket}/external/dir/y.txt", b"y")  # type: ignore[attr-defined]
    art = fl.Artifact(f"s3://{s3_bucket}/external/data.csv").save()
    assert art.path == f"s3://{s3_bucket}/external/data.csv"
    assert not art._key_is_virtual and art.key == "external/data.csv"
    assert list(art.load()["a"]) == [1]
    folder = fl.Artifact(f"s3://{s3_bucket}/external/dir/").save()
    assert folder.n_files == 2
    local = fl.Artifact(_file(tmp_path, "up.txt", "uploaded"), key="up.txt").save()
    assert local.path.startswith(f"s3://{s3_bucket}/lineage/.flowlineage/")
    cached = local.cache()
    assert cached.read_text() == "uploaded" and cached.is_relative_to(s3_instance.settings.home)
    assert local.cache() == cached


def test_failed_upload_leaves_no_row(fl_home: Path, s3_server: object, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from flowlineage.storage.backends import backend_for

    monkeypatch.setenv("AWS_ENDPOINT_URL", s3_server.endpoint_url)  # type: ignore[attr-defined]
    backend_for.cache_clear()
    fl.connect(storage="s3://bucket-that-does-not-exist/p")
    try:
        with pytest.raises(StorageError, match="could not upload"):
            fl.Artifact(_file(tmp_path, "f.txt", "f"), key="f.txt").save()
        assert fl.Artifact.filter(key="f.txt").count() == 0
    finally:
        fl.disconnect()
        backend_for.cache_clear()


def test_describe(instance: Instance, tmp_path: Path, capsys: pytest.CaptureFixture[str]
                  ) -> None:
    src = _file(tmp_path, "d.txt", "one")
    v1 = fl.Artifact(src, key="d.txt", description="described").save()
    src.write_text("two")
    v2 = fl.Artifact(src, key="d.txt").save()
    with fl.track(transform="reader"):
        v2.cache()
    text = v2.describe(print_=False)
    assert "Artifact d.txt" in text and f"hash: {v2.hash}" in text
    assert "input of 1 run(s)" in text
    assert "versions: 0000, 0001*" in text and v1.uid[:16] == v2.uid[:16]
    assert v2.describe() is None  # printed once, not echoed again by a REPL
    assert capsys.readouterr().out.strip() == text

"""One conformance suite for storage backends, subclassed for local folders and S3."""

from __future__ import annotations

from pathlib import Path

import pytest
from flowlineage.errors import InvalidKey, StorageError
from flowlineage.storage.backends import FsspecBackend, LocalBackend, StorageBackend
from flowlineage.storage.hashing import hash_file, hash_folder
from flowlineage.storage.keys import validate_key


class StorageBackendSuite:
    """Behaviour every backend must have; subclasses provide the ``backend`` fixture."""

    @pytest.fixture
    def backend(self) -> StorageBackend:
        raise NotImplementedError

    @pytest.fixture
    def sample(self, tmp_path: Path) -> Path:
        path = tmp_path / "sample.bin"
        path.write_bytes(bytes(range(256)) * 1000)
        return path

    @pytest.fixture
    def folder(self, tmp_path: Path) -> Path:
        root = tmp_path / "folder"
        (root / "sub").mkdir(parents=True)
        (root / "a.txt").write_text("a")
        (root / "sub" / "b.txt").write_text("b")
        return root

    def test_put_get_roundtrip(self, backend: StorageBackend, sample: Path,
                               tmp_path: Path) -> None:
        backend.put_file(sample, "x/y/sample.bin")
        assert backend.exists("x/y/sample.bin")
        out = tmp_path / "back.bin"
        backend.get("x/y/sample.bin", out)
        assert out.read_bytes() == sample.read_bytes()
        with backend.open("x/y/sample.bin") as f:
            assert f.read(3) == b"\x00\x01\x02"

    def test_content_hash_matches_local_hash(self, backend: StorageBackend, sample: Path) -> None:
        backend.put_file(sample, "h/sample.bin")
        digest, size, n_files = backend.content_hash("h/sample.bin")
        assert (digest, size, n_files) == (*hash_file(sample), None)

    def test_folders(self, backend: StorageBackend, folder: Path, tmp_path: Path) -> None:
        backend.put_folder(folder, "dir")
        assert backend.content_hash("dir") == hash_folder(folder)
        out = tmp_path / "out"
        backend.get("dir", out)
        assert (out / "sub" / "b.txt").read_text() == "b"
        backend.delete("dir")
        assert not backend.exists("dir/a.txt")

    def test_delete_missing_is_quiet(self, backend: StorageBackend) -> None:
        backend.delete("never/was")
        assert not backend.exists("never/was")

    def test_missing_key_is_a_storage_error(self, backend: StorageBackend,
                                            tmp_path: Path) -> None:
        with pytest.raises(StorageError, match="missing.bin"):
            backend.get("missing.bin", tmp_path / "nothing")


class TestLocalBackend(StorageBackendSuite):
    @pytest.fixture
    def backend(self, tmp_path: Path) -> StorageBackend:
        root = tmp_path / "root"
        root.mkdir()
        return LocalBackend(str(root))


class TestS3Backend(StorageBackendSuite):
    @pytest.fixture
    def backend(self, s3_fs: object, s3_bucket: str) -> StorageBackend:
        return FsspecBackend(f"s3://{s3_bucket}/prefix", s3_fs)


@pytest.mark.parametrize(
    "key",
    ["/abs/path", "a/../b", "..", "a//b", "./a", "a/", "", "a\x00b", "tab\there", "x" * 10_000,
     "s3://bucket/key", "C:\\x", "a\\b", "a/./b", "a\udcff.txt", "x/\ud800"],
)
def test_invalid_keys(key: str) -> None:
    with pytest.raises(InvalidKey):
        validate_key(key)


@pytest.mark.parametrize("key", ["a", "raw/counts.csv", "dir/sub/file.tar.gz", "ünïcode/ok.txt"])
def test_valid_keys(key: str) -> None:
    assert validate_key(key) == key

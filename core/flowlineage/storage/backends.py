"""Storage backends: a local folder or an fsspec filesystem (S3 through s3fs).

Bytes are written before the record that points at them, under new uid-based keys, so a
crash never leaves a record pointing at a half-written file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from ..errors import StorageError
from ..optional import require
from ..plugins import bookkeeping_files, hook
from .files import folder_files
from .hashing import combine_folder, hash_file, hash_folder, hash_stream
from .snapshot import STAGING, Snapshot


class StorageBackend(ABC):
    """Bytes under one storage root, addressed by relative keys."""

    def __init__(self, root: str) -> None:
        self.root = root

    def path(self, key: str) -> str:
        """Full path or URL of a key."""
        return f"{self.root}/{key}"

    @abstractmethod
    def put_file(self, local: Path, key: str) -> None:
        """Copy a local file to ``key``."""

    @abstractmethod
    def put_folder(self, local: Path, key: str) -> None:
        """Copy a local folder's files under ``key/``."""

    def staging(self) -> Path:
        """The local folder where snapshots for this root are staged."""
        return Path(tempfile.gettempdir()) / "flowlineage-staging"

    def put_snapshot(self, snapshot: Snapshot, key: str) -> None:
        """Store a snapshot's bytes under ``key`` (a new key) and drop its staged copy."""
        try:
            if snapshot.data is not None:
                with self.open(key, "wb") as f:
                    f.write(snapshot.data)
            elif snapshot.staged is not None and snapshot.n_files is not None:
                self.put_folder(snapshot.staged, key)
            elif snapshot.staged is not None:
                self.put_file(snapshot.staged, key)
        except BaseException as e:
            with suppress(Exception):
                self.delete(key)  # no partial copy left behind
            if isinstance(e, OSError):
                raise StorageError(f"could not upload to {self.path(key)}: {e}") from e
            raise
        finally:
            snapshot.discard()

    @abstractmethod
    def get(self, key: str, local: Path) -> None:
        """Copy ``key`` (file or folder) to a local path."""

    @abstractmethod
    def open(self, key: str, mode: str = "rb") -> IO[Any]:
        """Open ``key`` for reading (or writing)."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """Whether ``key`` exists."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete a file or folder (missing keys are ignored)."""

    @abstractmethod
    def content_hash(self, key: str) -> tuple[str, int, int | None]:
        """Full-content hash, size and file count (None for a file) of ``key``, streamed."""


class LocalBackend(StorageBackend):
    """A local folder."""

    def __init__(self, root: str) -> None:
        super().__init__(root)
        self._staging = Path(root) / STAGING

    def _abs(self, key: str) -> Path:
        return Path(self.root) / key

    def put_file(self, local: Path, key: str) -> None:
        # Keys written here are new (uid-based), so no record can point at a partial copy.
        dest = self._abs(key)
        try:
            try:
                shutil.copyfile(local, dest)
            except FileNotFoundError:
                if not Path(local).exists():
                    raise
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(local, dest)
        except OSError as e:
            _unlink_quietly(dest)
            raise StorageError(f"could not copy {local} to {dest}: {e}") from e

    def put_folder(self, local: Path, key: str) -> None:
        for file in folder_files(local):
            self.put_file(file, f"{key}/{file.relative_to(local).as_posix()}")

    def staging(self) -> Path:
        return self._staging

    def put_snapshot(self, snapshot: Snapshot, key: str) -> None:
        if snapshot.data is not None:
            self._write_new(f"{self.root}/{key}", snapshot.data)
            return None
        if snapshot.staged is None:
            return super().put_snapshot(snapshot, key)
        dest = self._abs(key)
        try:
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(snapshot.staged, dest)  # same filesystem: a rename, no second copy
        except OSError as e:
            raise StorageError(f"could not move {snapshot.staged} to {dest}: {e}") from e
        finally:
            snapshot.discard()

    @staticmethod
    def _write_new(dest: str, data: bytes) -> None:
        """Write ``data`` to a new file ``dest`` (its folder made if missing)."""
        try:
            try:
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
            except FileNotFoundError:
                os.makedirs(os.path.dirname(dest), exist_ok=True)
                fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
            with os.fdopen(fd, "wb") as f:
                f.write(data)
        except OSError as e:
            _unlink_quietly(dest)
            raise StorageError(f"could not write {dest}: {e}") from e

    def get(self, key: str, local: Path) -> None:
        src = self._abs(key)
        try:
            if src.is_dir():
                shutil.copytree(src, local, dirs_exist_ok=True)
            else:
                shutil.copyfile(src, local)
        except OSError as e:
            raise StorageError(f"could not read {src}: {e}") from e

    def open(self, key: str, mode: str = "rb") -> IO[Any]:
        try:
            if "w" in mode:
                self._abs(key).parent.mkdir(parents=True, exist_ok=True)
            return open(self._abs(key), mode)
        except OSError as e:
            raise StorageError(f"could not open {self._abs(key)}: {e}") from e

    def exists(self, key: str) -> bool:
        return self._abs(key).exists()

    def delete(self, key: str) -> None:
        target = self._abs(key)
        if target.is_dir():
            shutil.rmtree(target, ignore_errors=True)
        else:
            _unlink_quietly(target)

    def content_hash(self, key: str) -> tuple[str, int, int | None]:
        target = self._abs(key)
        if target.is_dir():
            return hash_folder(target)
        digest, size = hash_file(target)
        return digest, size, None


class FsspecBackend(StorageBackend):
    """A remote root through fsspec (``s3://bucket/prefix`` via s3fs)."""

    def __init__(self, root: str, fs: Any) -> None:
        super().__init__(root)
        self.fs = fs

    def put_file(self, local: Path, key: str) -> None:
        with _remote_errors(f"upload {local} to {self.path(key)}"):
            self.fs.put_file(str(local), self.path(key))

    def put_folder(self, local: Path, key: str) -> None:
        for file in folder_files(local):
            self.put_file(file, f"{key}/{file.relative_to(local).as_posix()}")

    def get(self, key: str, local: Path) -> None:
        with _remote_errors(f"download {self.path(key)}"):
            if self.fs.isdir(self.path(key)):
                self.fs.get(self.path(key) + "/", str(local), recursive=True)
            else:
                self.fs.get_file(self.path(key), str(local))

    def open(self, key: str, mode: str = "rb") -> IO[Any]:
        with _remote_errors(f"open {self.path(key)}"):
            return self.fs.open(self.path(key), mode)  # type: ignore[no-any-return]

    def exists(self, key: str) -> bool:
        with _remote_errors(f"look up {self.path(key)}"):
            return bool(self.fs.exists(self.path(key)))

    def delete(self, key: str) -> None:
        with _remote_errors(f"delete {self.path(key)}"):
            if self.fs.exists(self.path(key)):
                self.fs.rm(self.path(key), recursive=True)

    def content_hash(self, key: str) -> tuple[str, int, int | None]:
        path = self.path(key)
        with _remote_errors(f"hash {path}"):
            if self.fs.isdir(path):
                entries, total = [], 0
                skip = bookkeeping_files()
                for file in sorted(f for f in self.fs.find(path)
                                   if f.rsplit("/", 1)[-1] not in skip):
                    with self.fs.open(file, "rb") as f:
                        digest, size = hash_stream(f)
                    entries.append((file[len(path.split("://")[-1]) + 1 :], digest))
                    total += size
                return combine_folder(entries), total, len(entries)
            with self.fs.open(path, "rb") as f:
                digest, size = hash_stream(f)
            return digest, size, None


@contextmanager
def _remote_errors(what: str) -> Iterator[None]:
    """Map a remote filesystem's errors (OSError, botocore, aiohttp) to ``StorageError``."""
    try:
        yield
    except StorageError:
        raise
    except Exception as e:
        raise StorageError(f"could not {what}: {type(e).__name__}: {e}") from e


def _unlink_quietly(path: Any) -> None:
    if path:
        try:
            os.unlink(path)
        except OSError:
            pass


@lru_cache(maxsize=64)
def backend_for(root: str) -> StorageBackend:
    """The backend of a storage root (cached per root)."""
    if "://" not in root:
        return LocalBackend(root)
    protocol = root.split("://", 1)[0]
    return FsspecBackend(root, filesystem(protocol, root))


def filesystem(protocol: str, root: str) -> Any:
    """An fsspec filesystem for ``protocol``, with options from plugins and the environment."""
    import fsspec

    options: dict[str, Any] = {}
    if protocol == "s3":
        require("s3fs", "s3")
        if os.environ.get("AWS_ENDPOINT_URL"):
            options["endpoint_url"] = os.environ["AWS_ENDPOINT_URL"]
    extra = hook().flowlineage_storage_options(root=root)
    if extra:
        options.update(extra)
    return fsspec.filesystem(protocol, **options)

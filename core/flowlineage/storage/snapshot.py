"""Snapshots: one read of a local file or folder that both hashes and copies its bytes.

Small files are kept in memory; larger ones and folders are written to a staging place
beside the storage root (``STAGING``), then moved under their key, so the stored bytes are
exactly the hashed ones even when the source is rewritten during the save.
"""

from __future__ import annotations

import io
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .files import folder_files
from .hashing import combine_folder, consistent, read_once

STAGING = ".flowlineage/staging"
"""Where local roots stage copies (under the virtual-key folder, where uids never clash)."""

INLINE = 64 * 2**10  # files up to this size are held in memory, bounding bulk saves' memory


@dataclass
class Snapshot:
    """The hash of one consistent read, with its bytes (``data``) or their copy (``staged``)."""

    digest: str
    size: int
    n_files: int | None  # None for a file
    data: bytes | None = None
    staged: Path | None = None

    def discard(self) -> None:
        """Remove the staged copy (when the content turned out to be stored already)."""
        if self.staged is not None:
            if self.staged.is_dir():
                shutil.rmtree(self.staged, ignore_errors=True)
            else:
                self.staged.unlink(missing_ok=True)
            self.staged = None


def take_snapshot(source: str, is_dir: bool, staging: Path) -> Snapshot:
    """Hash and copy ``source`` in one read per file (see the module docstring)."""
    if is_dir:
        return _folder(Path(source), staging)
    if os.stat(source).st_size <= INLINE:
        return _inline(source)
    staging.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(dir=staging)
    os.close(fd)
    target = Path(name)
    try:
        digest, size = _copy(source, target)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return Snapshot(digest, size, None, staged=target)


def _inline(source: str) -> Snapshot:
    def read() -> Snapshot:
        buffer = io.BytesIO()
        digest, size = read_once(source, buffer.write)
        return Snapshot(digest, size, None, data=buffer.getvalue())

    return consistent(source, read)


def _copy(source: str | Path, target: Path) -> tuple[str, int]:
    def read() -> tuple[str, int]:
        # "r+b", not "wb": ext4 flushes a file truncated to zero and rewritten when it is
        # closed; a retry's longer leftovers are cut off at the end instead
        fd = os.open(target, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        with open(fd, "r+b") as out:
            found = read_once(source, out.write)
            out.truncate()
            return found

    return consistent(source, read)


def _folder(root: Path, staging: Path) -> Snapshot:
    staging.mkdir(parents=True, exist_ok=True)
    target = Path(tempfile.mkdtemp(dir=staging))
    entries, total = [], 0
    try:
        for file in folder_files(root):
            rel = file.relative_to(root).as_posix()
            (target / rel).parent.mkdir(parents=True, exist_ok=True)
            digest, size = _copy(file, target / rel)
            entries.append((rel, digest))
            total += size
    except BaseException:
        shutil.rmtree(target, ignore_errors=True)
        raise
    return Snapshot(combine_folder(entries), total, len(entries), staged=target)

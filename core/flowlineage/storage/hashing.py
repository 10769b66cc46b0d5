"""Full-content BLAKE3 hashes of files, folders and byte streams, in constant memory.

BLAKE3 over memory-mapped windows keeps up with the disk on this class of machine (see
``bench/``) and is cryptographic, so two contents that differ anywhere hash differently,
unlike lamindb's first-and-last-chunk hash. Folders hash as the hash of their sorted
``(relative path, file hash)`` list.
"""

from __future__ import annotations

import mmap
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from blake3 import blake3

from ..plugins import bookkeeping_files

HASH_TYPE = "blake3"
FOLDER_HASH_TYPE = "blake3-folder"
WINDOW = 128 * 2**20  # bytes mapped at a time: bounds resident memory on huge files
SMALL = 2**20


def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """Hex BLAKE3 digest and size of a file's full content.

    Small files are read at once; larger ones are hashed over memory-mapped windows (no copy,
    resident memory bounded by the window) with BLAKE3's multithreading on each window.
    """
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size <= SMALL:
            return blake3(f.read()).hexdigest(), size
        hasher = blake3(max_threads=blake3.AUTO)
        offset = 0
        while offset < size:
            length = min(WINDOW, size - offset)
            with mmap.mmap(f.fileno(), length, access=mmap.ACCESS_READ, offset=offset) as mm:
                mm.madvise(mmap.MADV_SEQUENTIAL)
                hasher.update(mm)
            offset += length
    return hasher.hexdigest(), size


def hash_bytes(data: bytes) -> str:
    """Hex BLAKE3 digest of bytes."""
    return blake3(data).hexdigest()


def hash_stream(stream: IO[bytes], chunk: int = 8 * 2**20) -> tuple[str, int]:
    """Hex BLAKE3 digest and size of a readable binary stream (e.g. an S3 object)."""
    hasher = blake3()
    size = 0
    while block := stream.read(chunk):
        hasher.update(block)
        size += len(block)
    return hasher.hexdigest(), size


def combine_folder(entries: Iterable[tuple[str, str]]) -> str:
    """The folder hash of ``(relative posix path, file hash)`` pairs, order-independent."""
    hasher = blake3()
    for rel, digest in sorted(entries):
        hasher.update(rel.encode("utf-8", "surrogateescape") + b"\0" + digest.encode() + b"\n")
    return hasher.hexdigest()


def folder_files(root: Path) -> list[Path]:
    """The files of a local folder, sorted, without orchestrators' bookkeeping files."""
    skip = bookkeeping_files()
    return sorted(p for p in root.rglob("*") if p.name not in skip and p.is_file())


def hash_folder(path: str | os.PathLike[str]) -> tuple[str, int, int]:
    """Folder hash, total size and number of files of a local directory (symlinks followed)."""
    root = Path(path)
    entries = []
    total = 0
    for file in folder_files(root):
        digest, size = hash_file(file)
        entries.append((file.relative_to(root).as_posix(), digest))
        total += size
    return combine_folder(entries), total, len(entries)

"""Full-content BLAKE3 hashes of files, folders and byte streams, in constant memory.

BLAKE3 is cryptographic, so two contents that differ anywhere hash differently, unlike
lamindb's first-and-last-chunk hash. Folders hash as the hash of their sorted
``(relative path, file hash)`` list.

Files are read, never memory-mapped: a mapped file that shrinks kills the reader with
SIGBUS. Every read is one snapshot: size, mtime, ctime and inode are compared before and
after, and a file that changed meanwhile is read again a few times, then refused with
``ContentChanged``. ``read_snapshot`` hands the same bytes to a sink (a copy), so what is
stored is exactly what was hashed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, TypeVar

from blake3 import blake3

from ..errors import ContentChanged
from .files import folder_files, open_regular

HASH_TYPE = "blake3"
FOLDER_HASH_TYPE = "blake3-folder"
SMALL = 2**20  # up to here one single-threaded read; above it BLAKE3 hashes with threads
CHUNK = 8 * 2**20  # bytes read at a time: bounds resident memory on huge files
_BUFFERS = 3  # blocks in flight during a large copy: one read, one hashed, one written
ATTEMPTS = 5  # reads of a file that keeps changing before it is refused

T = TypeVar("T")
Sink = Callable[[memoryview], object]


class _Changed(Exception):
    """The file changed during one read (retried)."""


def _signature(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def consistent(path: str | os.PathLike[str], read: Callable[[], T]) -> T:
    """``read()`` retried while ``path`` changes under it, then ``ContentChanged``."""
    from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

    try:
        return read()  # the usual case, without the retry machinery's cost
    except _Changed:
        pass
    try:
        for attempt in Retrying(stop=stop_after_attempt(ATTEMPTS - 1), reraise=True,
                                retry=retry_if_exception_type(_Changed),
                                wait=wait_exponential(multiplier=0.01, max=0.2)):
            with attempt:
                return read()
    except _Changed:
        pass
    raise ContentChanged(f"{os.fspath(path)} kept changing while it was read "
                         f"({ATTEMPTS} tries): save it once it is fully written")


def read_once(path: str | os.PathLike[str], sink: Sink | None = None) -> tuple[str, int]:
    """Digest and size of one read of ``path``, each block also given to ``sink``;
    raise ``_Changed`` if the file changed during the read (a file growing under the read
    is caught as soon as it passes its size: never read forever)."""
    fd, before = open_regular(path)
    with os.fdopen(fd, "rb", buffering=0) as f:
        if sink is not None and before.st_size > CHUNK:
            digest, size = _read_overlapped(f, sink, before.st_size)
        else:
            hasher = blake3(max_threads=blake3.AUTO) if before.st_size > SMALL else blake3()
            buffer = memoryview(bytearray(min(CHUNK, max(before.st_size, 1) + 1)))
            size = 0
            while n := f.readinto(buffer):
                size += n
                if size > before.st_size:
                    raise _Changed
                block = buffer[:n]
                hasher.update(block)
                if sink is not None:
                    sink(block)
            digest = hasher.hexdigest()
        after = os.fstat(f.fileno())
    try:
        now = os.stat(path)  # replaced by a rename meanwhile?
    except OSError:
        now = None
    if size != before.st_size or _signature(after) != _signature(before) or (
            now is None or _signature(now) != _signature(before)):
        raise _Changed
    return digest, size


def _read_overlapped(f: IO[bytes], sink: Sink, expected: int) -> tuple[str, int]:
    """Read blocks while one thread hashes them and another hands them to ``sink``: BLAKE3
    and file I/O release the GIL, so a large copy costs about its read plus its write.
    Each thread takes the blocks in order; a buffer is read into again only once both
    threads are done with it. Reading past ``expected`` bytes raises ``_Changed``."""
    hasher = blake3(max_threads=blake3.AUTO)
    buffers = [memoryview(bytearray(CHUNK)) for _ in range(_BUFFERS)]
    busy: list[tuple[Future[object], ...]] = [() for _ in buffers]
    size, i = 0, 0
    with ThreadPoolExecutor(1) as hashing, ThreadPoolExecutor(1) as writing:
        try:
            while True:
                for done in busy[i]:
                    done.result()
                n = f.readinto(buffers[i])  # type: ignore[attr-defined]
                if not n:
                    break
                size += n
                if size > expected:
                    raise _Changed
                block = buffers[i][:n]
                busy[i] = (hashing.submit(hasher.update, block), writing.submit(sink, block))
                i = (i + 1) % _BUFFERS
        finally:
            for futures in busy:
                for done in futures:
                    done.result()
    return hasher.hexdigest(), size


def hash_file(path: str | os.PathLike[str]) -> tuple[str, int]:
    """Hex BLAKE3 digest and size of a file's full content, from one unchanged read."""
    return consistent(path, lambda: read_once(path))


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

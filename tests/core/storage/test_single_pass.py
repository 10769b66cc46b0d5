"""One read pass that hashes and copies: large files hash each block while another thread
writes it, the copy is exactly the hashed bytes, and a file changing meanwhile is refused."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from flowlineage.errors import ContentChanged
from flowlineage.storage.hashing import ATTEMPTS, CHUNK, consistent, hash_bytes, read_once
from flowlineage.storage.snapshot import take_snapshot


def _big(path: Path, size: int) -> bytes:
    data = os.urandom(size)
    path.write_bytes(data)
    return data


def test_a_large_copy_is_the_hashed_bytes(tmp_path: Path) -> None:
    data = _big(tmp_path / "big.bin", 2 * CHUNK + 12345)  # three blocks, two buffers
    snap = take_snapshot(str(tmp_path / "big.bin"), False, tmp_path / "staging")
    assert snap.staged is not None and snap.data is None
    assert (snap.digest, snap.size) == (hash_bytes(data), len(data))
    assert snap.staged.read_bytes() == data
    snap.discard()
    assert list((tmp_path / "staging").iterdir()) == []


def test_a_slow_sink_gets_every_block_once_in_order(tmp_path: Path) -> None:
    data = _big(tmp_path / "big.bin", 3 * CHUNK + 1)
    got: list[bytes] = []

    def slow(block: memoryview) -> None:
        time.sleep(0.05)  # the hasher runs ahead: a reused buffer would show here
        got.append(bytes(block))

    assert read_once(tmp_path / "big.bin", slow) == (hash_bytes(data), len(data))
    assert b"".join(got) == data and len(got) == 4


def test_a_failing_sink_stops_the_read(tmp_path: Path) -> None:
    _big(tmp_path / "big.bin", 2 * CHUNK + 1)

    def full(block: memoryview) -> None:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"):
        read_once(tmp_path / "big.bin", full)


def test_a_file_changing_during_the_copy_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    _big(path, CHUNK + 10)
    tries: list[int] = []

    def grow_on_first_block(block: memoryview) -> None:
        if len(block) == CHUNK:  # the first block of each try: the writer appends meanwhile
            tries.append(len(block))
            with open(path, "ab") as f:
                f.write(b"more")

    with pytest.raises(ContentChanged, match="kept changing"):
        consistent(path, lambda: read_once(path, grow_on_first_block))
    assert len(tries) == ATTEMPTS  # every try saw the change, then the save was refused


@pytest.mark.parametrize("size", [1000, 2 * CHUNK + 1], ids=["small", "large"])
def test_a_file_growing_under_every_read_is_refused_not_read_forever(
    tmp_path: Path, size: int
) -> None:
    """Each block handed on makes the file a byte longer (a writer keeping ahead of the
    reader): the read stops once it passes the size it started with, and is refused."""
    path = tmp_path / "growing.log"
    _big(path, size)
    with path.open("ab") as grow:

        def append(block: memoryview) -> None:
            grow.write(b"x")
            grow.flush()

        with pytest.raises(ContentChanged, match="kept changing"):
            consistent(path, lambda: read_once(path, append))
    assert path.stat().st_size <= size + ATTEMPTS * 4  # each read stopped at its first extra byte

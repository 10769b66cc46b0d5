"""Opening and walking local files safely: special files refused, symlink loops detected.

A FIFO blocks a reader forever and ``/dev/zero`` never ends, so only regular files (and
folders of them) are read as content. Folder walks follow symlinks, as copies do, but stop
with a clear error at a link that leads back into a folder being walked.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

from ..errors import SpecialFile, ValidationError
from ..plugins import bookkeeping_files


def describe_mode(mode: int) -> str:
    """What a stat mode is, in words (``"a FIFO"``, ``"a device"``...)."""
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    return "not a regular file"


def require_regular(path: str | os.PathLike[str], st: os.stat_result | None = None) -> None:
    """Raise ``SpecialFile`` unless ``path`` is a regular file or a folder."""
    st = os.stat(path) if st is None else st
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise SpecialFile(f"{os.fspath(path)} is {describe_mode(st.st_mode)}: "
                          "only regular files and folders can be read")


def open_regular(path: str | os.PathLike[str]) -> tuple[int, os.stat_result]:
    """A read-only descriptor of a regular file and its stat; never blocks on a FIFO."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise SpecialFile(f"{os.fspath(path)} is {describe_mode(st.st_mode)}: "
                              "only regular files can be read")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd, st


def folder_files(root: str | os.PathLike[str]) -> Iterator[Path]:
    """``walk_files`` without the bookkeeping files orchestrators leave in output folders."""
    skip = bookkeeping_files()
    return (p for p in walk_files(root) if p.name not in skip)


def walk_files(root: str | os.PathLike[str]) -> Iterator[Path]:
    """Every regular file under ``root``, sorted, following symlinks; a loop is an error."""
    yield from _walk(Path(root), set())


def _walk(folder: Path, ancestors: set[tuple[int, int]]) -> Iterator[Path]:
    st = os.stat(folder)
    ident = (st.st_dev, st.st_ino)
    if ident in ancestors:
        raise ValidationError(f"symlink loop: {folder} leads back into a folder above it")
    ancestors = ancestors | {ident}
    with os.scandir(folder) as entries:
        names = sorted(entries, key=lambda e: e.name)
    for entry in names:
        path = Path(entry.path)
        try:
            is_dir = entry.is_dir()
        except OSError:
            is_dir = False
        if is_dir:
            yield from _walk(path, ancestors)
            continue
        try:
            st = entry.stat()
        except OSError:
            continue  # a dangling symlink holds no content
        require_regular(path, st)
        yield path

"""Reading the files Nextflow leaves behind: regular files only, so a FIFO never blocks an
ingestion and ``/dev/zero`` is not read until memory runs out."""

from __future__ import annotations

import os

from flowlineage.errors import IngestionError


def read_file(path: str | os.PathLike[str], what: str) -> bytes:
    """The bytes of the regular file ``path`` (``what`` it is, for errors).

    A FIFO, device or socket raises ``SpecialFile`` naming it, before anything is read; an
    unreadable file raises ``IngestionError`` naming it.
    """
    from flowlineage.adapters import open_regular, require_regular

    try:
        require_regular(path)  # a socket cannot even be opened: say what it is
        fd, _ = open_regular(path)
        with os.fdopen(fd, "rb") as f:
            return f.read()
    except OSError as exc:
        raise IngestionError(f"cannot read {what}: {exc.strerror}", source=str(path)) from None

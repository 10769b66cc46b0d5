"""A run's report: the script's stdout and stderr, teed (still printed) into a temporary
file while the run is open, for ``finish()`` to save as ``run.report``."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from typing import IO, Any, TextIO


class _Tee:
    """A text stream writing to the original stream and to the capture file."""

    def __init__(self, original: TextIO, sink: IO[str], lock: threading.Lock) -> None:
        self._original, self._sink, self._lock = original, sink, lock

    def write(self, text: str) -> int:
        with self._lock:
            if not self._sink.closed:  # a stream kept after the capture ended
                self._sink.write(text)
        return self._original.write(text)

    def flush(self) -> None:
        self._original.flush()

    def __getattr__(self, name: str) -> Any:  # fileno, isatty, encoding, ...
        return getattr(self._original, name)


class Capture:
    """The capture of one run's output (one at a time per process)."""

    active: Capture | None = None

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id
        self._lock = threading.Lock()
        self._file = tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace")
        self._streams = (sys.stdout, sys.stderr)
        self._tees = (_Tee(sys.stdout, self._file, self._lock),
                      _Tee(sys.stderr, self._file, self._lock))
        sys.stdout, sys.stderr = self._tees

    @classmethod
    def start(cls, run_id: int) -> None:
        """Start capturing for ``run_id`` unless a capture is already running."""
        if cls.active is None:
            cls.active = Capture(run_id)

    @classmethod
    def stop(cls, run_id: int | None = None) -> tuple[int, str] | None:
        """End the active capture (only ``run_id``'s when given); return its run id and
        text, or None when nothing was captured for it."""
        capture = cls.active
        if capture is None or (run_id is not None and capture.run_id != run_id):
            return None
        cls.active = None
        if sys.stdout is capture._tees[0]:  # someone else may have replaced it since
            sys.stdout = capture._streams[0]
        if sys.stderr is capture._tees[1]:
            sys.stderr = capture._streams[1]
        with capture._lock:
            capture._file.seek(0)
            text = capture._file.read()
            capture._file.close()
        return capture.run_id, text


def _flush_before_fork() -> None:
    """Flush the capture file, so a forked child's copy of its buffer (written again when the
    child exits) holds nothing the parent wrote."""
    capture = Capture.active
    if capture is not None:
        with capture._lock:
            if not capture._file.closed:
                capture._file.flush()


os.register_at_fork(before=_flush_before_fork)

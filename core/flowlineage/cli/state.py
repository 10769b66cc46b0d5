"""The global options of one CLI invocation (``--db``, ``--storage``, ``--debug``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class State:
    """The global options of one CLI invocation."""

    db: str | None = None
    storage: str | None = None
    debug: bool = False

    def reset(self) -> None:
        """Back to the defaults (before an invocation parses its options)."""
        self.db, self.storage, self.debug = None, None, False


STATE = State()

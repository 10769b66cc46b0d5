"""Named codes stored in small-integer columns: run status and branch (main / trash)."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from ..errors import ValidationError


class RunStatus(IntEnum):
    """A run's ``_status_code`` (lamindb's codes); negative codes are still running."""

    scheduled = -3
    restarted = -2
    started = -1
    completed = 0
    errored = 1
    aborted = 2

    @classmethod
    def of(cls, status: str | int) -> RunStatus:
        """The status of a name or code; ``ValidationError`` for anything else."""
        try:
            return cls(status) if isinstance(status, int) else cls[status]
        except (KeyError, ValueError):
            raise ValidationError(
                f"unknown run status {status!r}; use one of {', '.join(cls.__members__)}"
            ) from None

    @classmethod
    def name_of(cls, code: int) -> str:
        """The name of a stored code (the code itself as text if unknown)."""
        try:
            return cls(code).name
        except ValueError:
            return str(code)


def status_lookup(value: Any) -> Any:
    """Query value(s) for ``status=``: names or codes to codes."""
    if isinstance(value, list | tuple | set):
        return [int(RunStatus.of(v)) for v in value]
    return int(RunStatus.of(value))


class Branch(IntEnum):
    """An artifact's or collection's ``_branch_code``: trashed records are hidden by default."""

    main = 1
    trash = -1

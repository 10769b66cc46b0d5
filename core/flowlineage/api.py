"""Module-level helpers of the public API."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .models import Artifact


def save(records: list[Artifact], max_workers: int | None = None) -> list[Artifact]:
    """Save many artifacts in one transaction; content is hashed in parallel threads."""
    from .artifact_save import save_many

    return save_many(list(records), max_workers=max_workers)

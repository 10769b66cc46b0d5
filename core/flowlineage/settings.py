"""Configuration from the environment (DESIGN §5); ``connect()`` arguments override it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    """Where the instance lives: home folder, database URL and default storage root."""

    home: Path
    db_url: str
    storage_root: str

    @classmethod
    def from_env(cls, url: str | None = None, storage: str | None = None) -> Settings:
        """Resolve settings: arguments, then ``FLOWLINEAGE_*`` variables, then defaults."""
        home = Path(os.environ.get("FLOWLINEAGE_HOME") or Path.home() / ".flowlineage")
        home = home.expanduser().resolve()
        db_url = url or os.environ.get("FLOWLINEAGE_DB") or f"sqlite:///{home / 'lineage.db'}"
        storage_root = storage or os.environ.get("FLOWLINEAGE_STORAGE") or str(home / "storage")
        return cls(home=home, db_url=db_url, storage_root=normalize_root(storage_root))


def normalize_root(root: str) -> str:
    """Canonical form of a storage root: absolute local path or ``s3://bucket/prefix``."""
    if "://" in root:
        return root.rstrip("/")
    return str(Path(root).expanduser().resolve())

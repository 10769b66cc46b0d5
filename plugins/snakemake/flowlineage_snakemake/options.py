"""Settings of the Snakemake adapter (the logger plugin's ``--logger-flowlineage-*`` options)."""

from __future__ import annotations

from dataclasses import dataclass

from flowlineage.errors import ValidationError

REGISTER_MODES = ("in-place", "copy")


@dataclass(frozen=True)
class Options:
    """Where to record and how: database, default storage, file registration, input hashing."""

    db: str | None = None
    storage: str | None = None
    register: str = "in-place"
    hash_inputs: bool = True

    def __post_init__(self) -> None:
        if self.register not in REGISTER_MODES:
            raise ValidationError(
                f"register must be one of {', '.join(REGISTER_MODES)}, not {self.register!r}"
            )

"""Every error flowlineage raises, in one hierarchy.

Third-party errors (SQLAlchemy, fsspec/s3fs, orchestrators) are mapped to these at the
boundary, so callers catch ``flowlineage.errors.FlowlineageError`` and nothing else.
"""

from __future__ import annotations


class FlowlineageError(Exception):
    """Base class of every flowlineage error."""


class NotConnected(FlowlineageError):
    """No instance is connected; call ``flowlineage.connect()`` first."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message or "not connected to a flowlineage instance: call flowlineage.connect() first"
        )


class ConfigurationError(FlowlineageError):
    """A setting (URL, storage root, plugin list) is invalid."""


class DatabaseError(FlowlineageError):
    """The database refused or failed an operation (mapped from SQLAlchemy errors)."""


class MigrationError(DatabaseError):
    """The schema could not be brought up to date."""


class DoesNotExist(FlowlineageError):
    """A ``get()`` or lookup found no record."""


class MultipleResultsFound(FlowlineageError):
    """A lookup that must find one record found several; narrow it down."""


class InvalidKey(FlowlineageError, ValueError):
    """A storage key is unsafe or malformed (absolute, ``..``, empty segment, control chars)."""


class InvalidLookup(FlowlineageError, ValueError):
    """A ``filter()`` lookup names an unknown field or operator."""


class ValidationError(FlowlineageError, ValueError):
    """A value given to the API is of the wrong type or shape."""


class StorageError(FlowlineageError):
    """Reading or writing artifact bytes failed (mapped from OS / fsspec / s3fs errors)."""


class ContentChanged(StorageError):
    """A file kept changing while it was read for saving, so no consistent copy was made."""


class SpecialFile(ValidationError):
    """A FIFO, device or socket was given where a regular file or folder is expected."""


class IngestionError(FlowlineageError):
    """An orchestrator file or event could not be ingested; nothing was written.

    ``source`` names the file (or endpoint), ``line`` the 1-based line or record number and
    ``field`` the column or JSON field, where known.
    """

    def __init__(
        self,
        reason: str,
        *,
        source: str | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.reason = reason
        self.source = source
        self.line = line
        self.field = field
        where = ":".join(str(p) for p in (source, line) if p is not None)
        if field is not None:
            where = f"{where} field {field!r}" if where else f"field {field!r}"
        super().__init__(f"{where}: {reason}" if where else reason)


class PluginError(FlowlineageError):
    """A plugin failed to load or misbehaved."""


class MissingDependency(FlowlineageError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, package: str, extra: str) -> None:
        super().__init__(
            f"{package} is not installed: pip install 'flowlineage[{extra}]'"
        )
        self.package = package
        self.extra = extra

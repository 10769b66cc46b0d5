"""Configuration from the environment (DESIGN §5); ``connect()`` arguments override it."""

from __future__ import annotations

import ipaddress
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigurationError


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
    """Canonical form of a storage root: absolute local path or ``s3://bucket/prefix``.

    Raise ``ConfigurationError`` for a URL whose scheme no fsspec filesystem handles.
    """
    if "://" in root:
        from fsspec.registry import known_implementations, registry

        scheme = root.split("://", 1)[0]
        if scheme not in known_implementations and scheme not in registry:
            raise ConfigurationError(
                f"unknown storage scheme {scheme!r} in {root!r}: use a local folder or "
                "s3://bucket/prefix (FLOWLINEAGE_STORAGE or --storage)")
        return root.rstrip("/")
    return str(Path(root).expanduser().resolve())


def writable_folder(path: Path, role: str, setting: str) -> None:
    """Create ``path`` if missing (0700: the store is private); raise ``ConfigurationError``
    naming ``setting`` (what to change) when it is not a folder this process can write.
    """
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        problem = None if os.access(path, os.W_OK | os.X_OK) else "not writable"
    except OSError as e:
        problem = e.strerror or type(e).__name__
    if problem is not None:
        raise ConfigurationError(f"{role} {path} is not a folder flowlineage can write "
                                 f"({problem}): set {setting} to a writable folder")


def hide_password(url: str) -> str:
    """A database URL (even one SQLAlchemy cannot parse) with its password masked."""
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", url)


def is_loopback(host: str) -> bool:
    """Whether ``host`` (a name or address to listen on) is only reachable from this machine:
    ``localhost``, 127.0.0.0/8 or ::1."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def listen(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host:port`` (port 0 picks a free one) for a local server,
    or ``ConfigurationError`` naming the address (a port in use, an unknown host)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host.strip("[]"), port), family=family)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise ConfigurationError(f"cannot listen on {host}:{port}: {reason}") from None

"""Serving the UI with uvicorn: host, port and token checks, and uvicorn's own limits."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..settings import is_loopback, listen
from .app import create_app
from .queries import ValidationError

if TYPE_CHECKING:
    import uvicorn

TOKEN_ENV = "FLOWLINEAGE_UI_TOKEN"
MIN_TOKEN_LENGTH = 16
LIMIT_CONCURRENCY = 64
TIMEOUT_KEEP_ALIVE = 5
MAX_INCOMPLETE_EVENT_SIZE = 16 * 1024
TIMEOUT_GRACEFUL_SHUTDOWN = 5



def check_options(host: str, port: int, token: str | None) -> str | None:
    """The token to require (``token``, else ``$FLOWLINEAGE_UI_TOKEN``, else None).

    Raise ``ValidationError`` for a bad port, an empty host, a short token, or a host that
    is not loopback without a token.
    """
    if not host or any(c.isspace() for c in host):
        raise ValidationError(f"invalid host {host!r}")
    if not isinstance(port, int) or not 0 <= port <= 65535:
        raise ValidationError(f"port must be between 0 and 65535, not {port!r}")
    token = token or os.environ.get(TOKEN_ENV) or None
    if token is not None and (len(token) < MIN_TOKEN_LENGTH or not token.isprintable()
                              or any(c.isspace() or c in ';,"\\' for c in token)):
        raise ValidationError(f"the token must be at least {MIN_TOKEN_LENGTH} printable "
                              "characters without spaces, quotes, commas or semicolons")
    if not is_loopback(host) and token is None:
        raise ValidationError(f"serving on {host} (not loopback) needs a token: pass --token "
                              f"or set {TOKEN_ENV}")
    return token


def make_server(host: str = "127.0.0.1", port: int = 8765,
                token: str | None = None) -> uvicorn.Server:
    """A uvicorn server for the UI (not started); port 0 picks a free port."""
    import uvicorn  # only when serving: every CLI command imports this module

    token = check_options(host, port, token)
    config = uvicorn.Config(
        create_app(token), host=host, port=port, http="h11", ws="none", lifespan="off",
        interface="asgi3", log_level="warning", access_log=False, server_header=False,
        proxy_headers=False, limit_concurrency=LIMIT_CONCURRENCY,
        timeout_keep_alive=TIMEOUT_KEEP_ALIVE,
        h11_max_incomplete_event_size=MAX_INCOMPLETE_EVENT_SIZE,
        timeout_graceful_shutdown=TIMEOUT_GRACEFUL_SHUTDOWN)
    return uvicorn.Server(config)


def serve(host: str = "127.0.0.1", port: int = 8765, token: str | None = None,
          ready: Callable[[int], None] | None = None) -> None:
    """Serve the UI over the connected store until interrupted; ``ready(port)`` is called
    once the port is bound (a port in use is a ``ConfigurationError`` before anything
    starts)."""
    server = make_server(host, port, token)
    sock = listen(host, port)
    if ready is not None:
        ready(sock.getsockname()[1])
    server.run(sockets=[sock])

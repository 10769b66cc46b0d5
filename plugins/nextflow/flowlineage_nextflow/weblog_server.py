"""The weblog receiver: ``flowlineage nextflow serve`` (starlette + uvicorn).

Point Nextflow at it with ``-with-weblog http://HOST:PORT/<token>``; the token may also come as
``?token=``, ``Authorization: Bearer <token>`` or HTTP Basic auth with the token as password
(``weblog.basicToken = 'nextflow:<token>'``). One writer thread commits queued events in
batches, one transaction per batch, and a request is answered 200 only after its event's batch
committed, so every accepted event is durable. Bad requests get 401 (token), 413 (body over
1 MiB) or 400 (invalid JSON or event, with the reason) and never stop the server. An event
the database can never store gets 422 (retrying cannot help), one refused by a transient
database failure (unreachable, locked, pool exhausted) 503; neither answer carries SQL.

Slow or idle clients cannot stall it: uvicorn's own limits close connections idle for
``TIMEOUT_SECONDS`` (also before their first request is complete), answer 503 past
``LIMIT_CONCURRENCY`` connections and refuse oversized headers; a request body not
received within ``TIMEOUT_SECONDS`` gets 408. A host other than loopback needs a token.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import queue
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from flowlineage.adapters import is_loopback
from flowlineage.errors import ConfigurationError, FlowlineageError, IngestionError

from .weblog_events import WeblogEvent, parse_weblog_event
from .weblog_ingest import Known, record_events

if TYPE_CHECKING:
    import asyncio as _asyncio

    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger("flowlineage.nextflow.weblog")

MAX_BODY = 2**20
"""Largest accepted request body (bytes)."""
MAX_BATCH = 2000
"""Most events written in one transaction."""
TIMEOUT_SECONDS = 10.0
"""How long a connection may stay idle, and a request body take to arrive."""
LIMIT_CONCURRENCY = 400
"""Connections (or requests in flight) past which uvicorn answers 503, well below the
usual 1024 open files."""
MAX_HEADER_BYTES = 64 * 1024
"""Largest request head (request line and headers) h11 buffers."""
RETRY = "the database is unavailable right now; retry later"


Waiter = Future[None] | asyncio.Future[None]
"""What resolves once an event is committed: a thread's Future or an event loop's future."""


class WeblogWriter:
    """The one thread that writes events: it takes every queued event (up to ``max_batch``),
    writes them in one transaction, then resolves their waiters (one wake-up per event loop
    and batch, not per event)."""

    def __init__(self, pipeline: str | None = None, max_batch: int = MAX_BATCH) -> None:
        self.pipeline = pipeline
        self.max_batch = max_batch
        self.known = Known()
        self._queue: queue.SimpleQueue[tuple[WeblogEvent, Waiter] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="flowlineage-weblog-writer",
                                        daemon=True)

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def submit(self, event: WeblogEvent, done: Waiter | None = None) -> Waiter:
        """Queue an event; ``done`` (a new Future unless given, e.g. a future of the
        caller's event loop) resolves once it is committed, or fails with the error."""
        waiter: Waiter = Future() if done is None else done
        self._queue.put((event, waiter))
        return waiter

    def stop(self) -> None:
        """Write what is queued, then end the thread."""
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:
                    stop = True
                    break
                batch.append(more)
            _settle(self._write(batch))
            if stop:
                return

    def _write(self, batch: list[tuple[WeblogEvent, Waiter]]
               ) -> list[tuple[Waiter, BaseException | None]]:
        """Record the batch; return each waiter with its event's error (None if committed)."""
        try:
            record_events([event for event, _ in batch], self.known, self.pipeline)
        except Exception as exc:
            self.known.committed(False)
            if len(batch) > 1:  # find the event that failed; the others still go in
                return [outcome for item in batch for outcome in self._write([item])]
            logger.warning("weblog event not recorded: %s: %s", type(exc).__name__, exc)
            return [(batch[0][1], exc)]
        self.known.committed(True)
        return [(done, None) for _, done in batch]


def _settle(outcomes: list[tuple[Waiter, BaseException | None]]) -> None:
    """Resolve waiters: thread futures here, each event loop's futures in one call on it."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Waiter, BaseException | None]]] = {}
    for done, exc in outcomes:
        if isinstance(done, asyncio.Future):
            by_loop.setdefault(done.get_loop(), []).append((done, exc))
        else:
            _resolve([(done, exc)])
    for loop, waiting in by_loop.items():
        loop.call_soon_threadsafe(_resolve, waiting)


def _resolve(outcomes: list[tuple[Waiter, BaseException | None]]) -> None:
    for done, exc in outcomes:
        if done.done():  # the request was cancelled (client gone)
            continue
        if exc is None:
            done.set_result(None)
        else:
            done.set_exception(exc)


def authorized(request: Request, token: str | None) -> bool:
    """Whether the request carries the token (last path segment, ``?token=``, Bearer or
    Basic password); always true without a token."""
    if token is None:
        return True
    offered = [str(request.scope["path"]).rstrip("/").rsplit("/", 1)[-1]]
    if request.scope.get("query_string"):
        offered.append(request.query_params.get("token", ""))
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer":
        offered.append(credentials.strip())
    elif scheme.lower() == "basic":
        try:
            offered.append(base64.b64decode(credentials.strip(), validate=True)
                           .decode().partition(":")[2])
        except (binascii.Error, UnicodeDecodeError):
            pass
    expected = token.encode()
    return any(hmac.compare_digest(o.encode(), expected) for o in offered if o)


def refusal(exc: BaseException) -> tuple[int, str]:
    """The status and reason answering an event the writer could not record: 503 when the
    database failed transiently (the sender may retry), else 422; never SQL."""
    from sqlalchemy import exc as sa_exc

    transient = (sa_exc.OperationalError, sa_exc.InterfaceError, sa_exc.TimeoutError,
                 sa_exc.DisconnectionError, ConnectionError, TimeoutError)
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, transient) or getattr(seen, "connection_invalidated", False):
            return 503, RETRY
        seen = seen.__cause__ or seen.__context__
    if isinstance(exc, IngestionError) or (isinstance(exc, FlowlineageError)
                                           and isinstance(exc, ValueError)):
        return 422, str(exc)
    logger.warning("weblog event refused: %s: %s", type(exc).__name__, exc)
    return 422, f"the event cannot be recorded ({type(exc).__name__})"



def check_exposure(host: str, token: str | None) -> None:
    """Refuse to listen beyond loopback without a token: anyone could write runs."""
    if token is None and not is_loopback(host):
        raise ConfigurationError(
            f"refusing to listen on {host} without a token: anyone who can reach it could "
            "record runs; pass --token (or FLOWLINEAGE_WEBLOG_TOKEN) or listen on 127.0.0.1")


def server_config(app: Any, host: str = "127.0.0.1", port: int = 8585,
                  token: str | None = None, **overrides: Any) -> Any:
    """The ``uvicorn.Config`` serving ``app``: its timeouts, connection cap and header
    limit (``overrides`` replace them, for tests); refuses an exposed host without token."""
    from flowlineage.adapters import require

    check_exposure(host, token)
    uvicorn = require("uvicorn", "nextflow")
    settings: dict[str, Any] = {
        "timeout_keep_alive": TIMEOUT_SECONDS, "limit_concurrency": LIMIT_CONCURRENCY,
        "h11_max_incomplete_event_size": MAX_HEADER_BYTES, "http": _protocol(),
        "log_level": "warning", "access_log": False, "lifespan": "on",
    }
    settings.update(overrides)
    return uvicorn.Config(app, host=host, port=port, **settings)


def _protocol() -> type[Any]:
    """uvicorn's h11 protocol, its keep-alive timer also armed while a request's head is
    awaited: uvicorn arms it only after a response, so a connection that never completes
    a request would stay open forever. The timer and its handler are uvicorn's."""
    from uvicorn.protocols.http.h11_impl import H11Protocol

    class HeadTimeoutH11(H11Protocol):
        def connection_made(self, transport: _asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.cycle is None and not self.transport.is_closing():
                self._arm()  # the head is still incomplete

        def _arm(self) -> None:
            self._unset_keepalive_if_required()
            self.timeout_keep_alive_task = self.loop.call_later(
                self.timeout_keep_alive, self.timeout_keep_alive_handler)

    return HeadTimeoutH11


def _json(**body: str) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def create_app(token: str | None = None, pipeline: str | None = None,
               timeout: float = TIMEOUT_SECONDS) -> ASGIApp:
    """The ASGI app; its lifespan starts and stops the writer thread.

    ``pipeline`` names the transforms of runs whose ``started`` event names no pipeline;
    ``timeout`` bounds how long a request body may take to arrive. Event POSTs (any path)
    are answered directly, without Starlette's middleware and routing (a third of the
    receiver's time per event); Starlette serves the rest (health ``GET /``, lifespan).
    """
    from flowlineage.adapters import require

    require("starlette", "nextflow")
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import Route

    writer = WeblogWriter(pipeline)
    recorded = _json(status="recorded")
    too_large = _json(error=f"body over {MAX_BODY} bytes")

    async def answer(request: Request) -> tuple[int, bytes]:
        if not authorized(request, token):
            return 401, _json(error="missing or wrong token")
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY:
            return 413, too_large
        body = bytearray()
        try:
            async with asyncio.timeout(timeout):
                async for chunk in request.stream():
                    body += chunk
                    if len(body) > MAX_BODY:
                        return 413, too_large
        except TimeoutError:
            return 408, _json(error=f"body not received within {timeout:g} s")
        try:
            event = parse_weblog_event(bytes(body))
        except IngestionError as exc:
            return 400, _json(error=str(exc))
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        writer.submit(event, done)
        try:
            await done
        except Exception as exc:
            code, reason = refusal(exc)
            return code, _json(error=reason)
        return 200, recorded

    async def health(request: Request) -> Response:
        return Response(_json(status="ok"), media_type="application/json")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        writer.start()
        try:
            yield
        finally:
            await asyncio.to_thread(writer.stop)

    rest = Starlette(routes=[Route("/", health, methods=["GET"])], lifespan=lifespan)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await rest(scope, receive, send)
            return
        code, body = await answer(Request(scope, receive))
        await send({"type": "http.response.start", "status": code, "headers": [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    return app


def serve(host: str = "127.0.0.1", port: int = 8585, token: str | None = None,
          pipeline: str | None = None, ready: Callable[[int], None] | None = None) -> None:
    """Run the receiver until interrupted (connects to the instance first); ``ready(port)``
    is called once the port is bound (a port in use is a ``ConfigurationError``)."""
    from flowlineage.adapters import ensure_connected, listen, require

    uvicorn = require("uvicorn", "nextflow")
    check_exposure(host, token)
    ensure_connected()
    server = uvicorn.Server(server_config(create_app(token, pipeline), host, port, token))
    sock = listen(host, port)
    if ready is not None:
        ready(sock.getsockname()[1])
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it shut down on, as uvicorn.run
        pass

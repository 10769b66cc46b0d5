"""The weblog receiver: ``flowlineage nextflow serve`` (starlette + uvicorn).

Point Nextflow at it with ``-with-weblog http://HOST:PORT/<token>``; the token may also come as
``?token=``, ``Authorization: Bearer <token>`` or HTTP Basic auth with the token as password
(``weblog.basicToken = 'nextflow:<token>'``). One writer thread commits queued events in
batches, one transaction per batch, and a request is answered 200 only after its event's batch
committed, so every accepted event is durable. Bad requests get 401 (token), 413 (body over
1 MiB) or 400 (invalid JSON or event, with the reason) and never stop the server.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import logging
import queue
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from flowlineage.errors import FlowlineageError, IngestionError

from .weblog_events import WeblogEvent, parse_weblog_event
from .weblog_ingest import Known, record_events

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import Response

logger = logging.getLogger("flowlineage.nextflow.weblog")

MAX_BODY = 2**20
"""Largest accepted request body (bytes)."""
MAX_BATCH = 2000
"""Most events written in one transaction."""


class WeblogWriter:
    """The one thread that writes events: it takes every queued event (up to ``max_batch``),
    writes them in one transaction, then resolves their futures."""

    def __init__(self, pipeline: str | None = None, max_batch: int = MAX_BATCH) -> None:
        self.pipeline = pipeline
        self.max_batch = max_batch
        self.known = Known()
        self._queue: queue.SimpleQueue[tuple[WeblogEvent, Future[None]] | None] = (
            queue.SimpleQueue())
        self._thread = threading.Thread(target=self._loop, name="flowlineage-weblog-writer",
                                        daemon=True)

    def start(self) -> None:
        """Start the writer thread."""
        self._thread.start()

    def submit(self, event: WeblogEvent) -> Future[None]:
        """Queue an event; the future resolves once it is committed (or fails with the error)."""
        done: Future[None] = Future()
        self._queue.put((event, done))
        return done

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
            self._write(batch)
            if stop:
                return

    def _write(self, batch: list[tuple[WeblogEvent, Future[None]]]) -> None:
        try:
            record_events([event for event, _ in batch], self.known, self.pipeline)
        except Exception as exc:
            self.known.committed(False)
            if len(batch) > 1:  # find the event that failed; the others still go in
                for item in batch:
                    self._write([item])
                return
            logger.warning("weblog event not recorded: %s: %s", type(exc).__name__, exc)
            batch[0][1].set_exception(exc)
            return
        self.known.committed(True)
        for _, done in batch:
            done.set_result(None)


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


def create_app(token: str | None = None, pipeline: str | None = None) -> Starlette:
    """The ASGI app; its lifespan starts and stops the writer thread.

    ``pipeline`` names the transforms of runs whose ``started`` event names no pipeline.
    """
    from flowlineage.adapters import require

    require("starlette", "nextflow")
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    writer = WeblogWriter(pipeline)
    recorded = b'{"status":"recorded"}'

    def reply(code: int, **body: str) -> Response:
        return JSONResponse(body, status_code=code)

    async def receive(request: Request) -> Response:
        if not authorized(request, token):
            return reply(401, error="missing or wrong token")
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > MAX_BODY:
            return reply(413, error=f"body over {MAX_BODY} bytes")
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > MAX_BODY:
                return reply(413, error=f"body over {MAX_BODY} bytes")
        try:
            event = parse_weblog_event(bytes(body))
        except IngestionError as exc:
            return reply(400, error=str(exc))
        try:
            await asyncio.wrap_future(writer.submit(event))
        except FlowlineageError as exc:
            return reply(400 if isinstance(exc, ValueError) else 503, error=str(exc))
        except Exception as exc:  # the database refused it: the sender may retry
            return reply(503, error=f"{type(exc).__name__}: {exc}")
        return Response(recorded, media_type="application/json")

    async def health(request: Request) -> Response:
        return reply(200, status="ok")

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        writer.start()
        try:
            yield
        finally:
            await asyncio.to_thread(writer.stop)

    return Starlette(routes=[
        Route("/", receive, methods=["POST"]),
        Route("/", health, methods=["GET"]),
        Route("/{token:path}", receive, methods=["POST"]),
    ], lifespan=lifespan)


def serve(host: str = "127.0.0.1", port: int = 8585, token: str | None = None,
          pipeline: str | None = None) -> None:
    """Run the receiver until interrupted (connects to the instance first)."""
    from flowlineage.adapters import ensure_connected, require

    uvicorn = require("uvicorn", "nextflow")
    ensure_connected()
    uvicorn.run(create_app(token, pipeline), host=host, port=port, log_level="warning",
                access_log=False)

"""The Starlette application: read-only pages and JSON API over the connected store."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, MutableMapping
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from . import queries
from .pages import render

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKEN_COOKIE = "flowlineage_ui_token"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "[::1]", "::1"})
READ_METHODS = frozenset({"GET", "HEAD"})
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'self'")
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]
STATIC = Path(__file__).parent / "static"
VIEWER_STATIC = ("flowlineage.render", "static")
"""The viewer's scripts and stylesheet, shared with ``render.viewer``'s one-file page."""


class Guard:
    """ASGI middleware: GET/HEAD only, the token on every request, security headers.

    Without a token only loopback ``Host`` headers are served (no DNS rebinding). With one,
    a request needs ``Authorization: Bearer T``, the cookie, or ``?token=T`` (which sets the
    cookie and redirects to the same URL without it).
    """

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            if scope["type"] == "lifespan":
                await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", [])}
        if scope["method"] not in READ_METHODS:
            await _plain(send, 405, "read-only: only GET and HEAD are allowed",
                         [(b"allow", b"GET, HEAD")])
            return
        if self.token is None:
            if host_name(headers.get("host", "")) not in LOOPBACK_HOSTS:
                await _plain(send, 403, "this server answers only on loopback host names")
                return
        else:
            query = dict(parse_qsl(scope.get("query_string", b"").decode("latin-1")))
            given = query.get("token")
            if given is not None and self._ok(given):
                rest = urlencode([(k, v) for k, v in parse_qsl(
                    scope["query_string"].decode("latin-1")) if k != "token"])
                location = scope["path"] + (f"?{rest}" if rest else "")
                cookie = (f"{TOKEN_COOKIE}={self.token}; HttpOnly; SameSite=Strict; "
                          "Path=/").encode("latin-1")
                await _plain(send, 303, "see other",
                             [(b"location", location.encode("latin-1")), (b"set-cookie", cookie)])
                return
            if not self._authorized(headers):
                await _plain(send, 401, "a token is required: Authorization: Bearer TOKEN, "
                             "or open the URL with ?token=TOKEN once",
                             [(b"www-authenticate", b"Bearer")])
                return

        async def secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", [])) + SECURITY_HEADERS
            await send(message)

        await self.app(scope, receive, secured)

    def _ok(self, given: str) -> bool:
        assert self.token is not None
        return hmac.compare_digest(given.encode(), self.token.encode())

    def _authorized(self, headers: dict[str, str]) -> bool:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer ") and self._ok(auth[7:].strip()):
            return True
        cookie: SimpleCookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # noqa: BLE001 - a malformed cookie header is just unauthorized
            return False
        morsel = cookie.get(TOKEN_COOKIE)
        return morsel is not None and self._ok(morsel.value)


def host_name(host: str) -> str:
    """The name in a ``Host`` header, without port (``[::1]:8765`` gives ``[::1]``)."""
    if host.startswith("["):
        return host.split("]", 1)[0] + "]"
    return host.rsplit(":", 1)[0].lower()


async def _plain(send: Send, status: int, text: str,
                 extra: list[tuple[bytes, bytes]] | None = None) -> None:
    body = (text + "\n").encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()),
                            *SECURITY_HEADERS, *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


# ---------------------------------------------------------------- helpers


def _int(request: Request, name: str, default: int | None = None) -> int | None:
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError:
        raise queries.ValidationError(f"{name} must be an integer") from None


def _str(request: Request, name: str) -> str | None:
    value = request.query_params.get(name)
    return value if value else None


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def _next_url(request: Request, cursor: int | None) -> str | None:
    if cursor is None:
        return None
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    return f"{request.url.path}?{urlencode([*params, ('cursor', str(cursor))])}"


def _first_url(request: Request) -> str | None:
    if "cursor" not in request.query_params:
        return None
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
    return request.url.path + (f"?{urlencode(params)}" if params else "")


async def _call(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await run_in_threadpool(fn, *args, **kwargs)


def _page(template: str, **context: Any) -> HTMLResponse:
    return HTMLResponse(render(template, store=queries.store_url(), **context))


def gantt(tree: list[dict[str, Any]]) -> dict[str, Any]:
    """Bars (left/width in percent of the span) for the initiated-runs timeline."""
    flat: list[dict[str, Any]] = []

    def walk(nodes: list[dict[str, Any]]) -> None:
        for n in nodes:
            flat.append(n)
            walk(n["children"])

    walk(tree)
    timed = [n for n in flat if n["offset_s"] is not None]
    span = max([(n["offset_s"] or 0) + (n["duration_s"] or 0) for n in timed] or [0]) or 1.0
    origin = min((n["started_at"] for n in timed), default=None)
    bars = []
    for n in flat:
        left = 100 * (n["offset_s"] or 0) / span
        width = 100 * (n["duration_s"] or 0) / span
        bars.append({"run": n, "indent": 12 * (n["depth"] - 1), "left": round(left, 2),
                     "width": round(max(width, 0.3), 2)})
    return {"bars": bars, "span_s": span, "origin": origin}


# ---------------------------------------------------------------- endpoints


def _run_filter(request: Request) -> queries.RunFilter:
    return queries.RunFilter(
        status=_str(request, "status"), orchestrator=_str(request, "orchestrator"),
        transform=_str(request, "transform"),
        since=queries.parse_time(_str(request, "since"), "since"),
        until=queries.parse_time(_str(request, "until"), "until"),
        q=_str(request, "q"), cursor=_int(request, "cursor"), limit=_limit(request))


def _limit(request: Request) -> int:
    return _int(request, "limit", queries.PAGE_SIZE) or queries.PAGE_SIZE


async def _listing(request: Request, template: str, fetch: Callable[..., dict[str, Any]],
                   *filters: str | None, **context: Any) -> Response:
    """A list page (or its JSON): ``fetch(*filters, cursor, limit)``, with pager links."""
    page = await _call(fetch, *filters, _int(request, "cursor"), _limit(request))
    if _wants_json(request):
        return JSONResponse(page)
    return _page(template, page=page, next_url=_next_url(request, page["next_cursor"]),
                 first_url=_first_url(request), **context)


async def _entity(request: Request, kind: str, template: str,
                  fetch: Callable[[str], dict[str, Any]], name: str) -> Response:
    """An entity page with its lineage graph (or its JSON without the graph)."""
    uid = request.path_params["uid"]
    detail = await _call(fetch, uid)
    if _wants_json(request):
        return JSONResponse(detail)
    graph = await _call(queries.lineage_graph, kind, uid, "both", 3)
    extra = {"gantt": gantt(detail["initiated_runs"])} if kind == "run" else {}
    return _page(template, graph=graph, api="/api/lineage", **{name: detail}, **extra)


async def runs(request: Request) -> Response:
    """``/runs`` and ``/api/runs``: filtered, keyset-paginated runs."""
    f = _run_filter(request)
    page = await _call(queries.list_runs, f)
    if _wants_json(request):
        return JSONResponse(page)
    keys = await _call(queries.transform_keys)
    return _page("runs.html", page=page, f=f, statuses=queries.STATUSES,
                 orchestrators=queries.orchestrators(), transform_keys=keys,
                 since=_str(request, "since") or "", until=_str(request, "until") or "",
                 next_url=_next_url(request, page["next_cursor"]), first_url=_first_url(request))


async def run(request: Request) -> Response:
    """``/runs/{uid}`` and ``/api/runs/{uid}``."""
    return await _entity(request, "run", "run.html", queries.run_detail, "run")


async def artifacts(request: Request) -> Response:
    """``/artifacts`` and ``/api/artifacts``."""
    q, suffix = _str(request, "q"), _str(request, "suffix")
    return await _listing(request, "artifacts.html", queries.list_artifacts, q, suffix, q=q,
                          suffix=suffix)


async def artifact(request: Request) -> Response:
    """``/artifacts/{uid}`` and ``/api/artifacts/{uid}``."""
    return await _entity(request, "artifact", "artifact.html", queries.artifact_detail, "art")


async def collections(request: Request) -> Response:
    """``/collections`` and ``/api/collections``."""
    q = _str(request, "q")
    return await _listing(request, "collections.html", queries.list_collections, q, q=q)


async def collection(request: Request) -> Response:
    """``/collections/{uid}`` and ``/api/collections/{uid}``."""
    return await _entity(request, "collection", "collection.html", queries.collection_detail,
                         "coll")


async def transforms(request: Request) -> Response:
    """``/transforms`` and ``/api/transforms``."""
    q = _str(request, "q")
    return await _listing(request, "transforms.html", queries.list_transforms, q, q=q)


async def transform(request: Request) -> Response:
    """``/transforms/{uid}`` and ``/api/transforms/{uid}``."""
    detail = await _call(queries.transform_detail, request.path_params["uid"])
    if _wants_json(request):
        return JSONResponse(detail)
    return _page("transform.html", tf=detail)


async def lineage(request: Request) -> Response:
    """``/api/lineage/{kind}/{uid}?direction=up|down|both&depth=N`` (depth 0..1000)."""
    depth = _int(request, "depth", 1)
    graph = await _call(queries.lineage_graph, request.path_params["kind"],
                        request.path_params["uid"], request.query_params.get("direction", "up"),
                        depth)
    return JSONResponse(graph)


async def home(request: Request) -> Response:
    """``/`` goes to ``/runs``."""
    return RedirectResponse("/runs", status_code=307)


# ---------------------------------------------------------------- errors


def _error(request: Request, code: int, title: str, message: str) -> Response:
    if _wants_json(request):
        return JSONResponse({"error": title, "detail": message}, status_code=code)
    try:
        return HTMLResponse(render("error.html", store=queries.store_url(), code=code,
                                   title=title, message=message), status_code=code)
    except queries.FlowlineageError:  # not connected: still answer
        return Response(f"{code} {title}: {message}\n", status_code=code,
                        media_type="text/plain")


async def not_found(request: Request, exc: Exception) -> Response:
    """A missing record or route: 404."""
    return _error(request, 404, "not found", str(exc) if isinstance(exc, queries.DoesNotExist)
                  else "no such page")


async def bad_request(request: Request, exc: Exception) -> Response:
    """A bad filter or parameter: 400."""
    return _error(request, 400, "bad request", str(exc))


async def http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own HTTP errors (404 for unknown routes, 405 ...)."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        return await not_found(request, exc)
    return _error(request, exc.status_code, "error", str(exc.detail))


async def store_error(request: Request, exc: Exception) -> Response:
    """Any other flowlineage error (e.g. the database went away): 503."""
    return _error(request, 503, "store unavailable", type(exc).__name__)


def create_app(token: str | None = None) -> Starlette:
    """The read-only UI; with ``token`` every request must carry it (see ``Guard``)."""
    both = [("", False), ("/api", True)]
    routes: list[Any] = [Route("/", home, methods=["GET", "HEAD"])]
    for prefix, _ in both:
        routes += [
            Route(f"{prefix}/runs", runs, methods=["GET", "HEAD"]),
            Route(f"{prefix}/runs/{{uid}}", run, methods=["GET", "HEAD"]),
            Route(f"{prefix}/artifacts", artifacts, methods=["GET", "HEAD"]),
            Route(f"{prefix}/artifacts/{{uid}}", artifact, methods=["GET", "HEAD"]),
            Route(f"{prefix}/collections", collections, methods=["GET", "HEAD"]),
            Route(f"{prefix}/collections/{{uid}}", collection, methods=["GET", "HEAD"]),
            Route(f"{prefix}/transforms", transforms, methods=["GET", "HEAD"]),
            Route(f"{prefix}/transforms/{{uid}}", transform, methods=["GET", "HEAD"]),
        ]
    routes += [
        Route("/api/lineage/{kind}/{uid}", lineage, methods=["GET", "HEAD"]),
        Mount("/static", app=StaticFiles(directory=STATIC, packages=[VIEWER_STATIC]),
              name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={
        queries.DoesNotExist: not_found,
        queries.ValidationError: bad_request,
        HTTPException: http_error,
        queries.FlowlineageError: store_error,
    })
    app.add_middleware(Guard, token=token)
    return app

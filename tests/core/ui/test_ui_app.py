"""The UI's pages, JSON API, escaping, token and read-only rules, and the HTML viewer."""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator

import flowlineage as fl
import httpx
import pytest
from flowlineage import plugins
from flowlineage.adapters import get_or_create_transform, hookimpl, upsert_runs
from flowlineage.errors import ValidationError
from flowlineage.render.viewer import json_for_script
from flowlineage.ui import create_app, render_html
from flowlineage.ui.cli import ui_command
from flowlineage.ui.server import TOKEN_ENV, check_options, make_server
from starlette.testclient import TestClient

from .ui_helpers import XSS_KEY, XSS_PARAM, Served, Store

TOKEN = "t0ken-for-tests-0123456789"


def client(token: str | None = None) -> TestClient:
    return TestClient(create_app(token), base_url="http://127.0.0.1:8765")


def test_api_run_returns_params(store: Store) -> None:
    data = client().get(f"/api/runs/{store.run1}").json()
    assert data["params"] == {"n": 3, "note": XSS_PARAM}
    assert data["status"] == "completed" and data["transform"] == "make_raw"
    assert [a["key"] for a in data["outputs"]] == ["raw.csv"]
    run2 = client().get(f"/api/runs/{store.run2}").json()
    assert [a["key"] for a in run2["inputs"]] == ["raw.csv"]
    assert sorted(a["key"] for a in run2["outputs"]) == sorted(["clean.csv", XSS_KEY])


def test_api_lists_filters_and_pages(store: Store) -> None:
    c = client()
    page = c.get("/api/runs", params={"limit": 1}).json()
    assert page["total"] == 2 and [r["uid"] for r in page["runs"]] == [store.run2]
    rest = c.get("/api/runs", params={"limit": 1, "cursor": page["next_cursor"]}).json()
    assert [r["uid"] for r in rest["runs"]] == [store.run1] and rest["next_cursor"] is None
    assert c.get("/api/runs", params={"q": "make_"}).json()["total"] == 1
    assert c.get("/api/runs", params={"orchestrator": "python"}).json()["total"] == 2
    assert c.get("/api/runs", params={"orchestrator": "prefect"}).json()["total"] == 0
    assert c.get("/api/runs", params={"status": "errored"}).json()["total"] == 0
    assert c.get("/api/runs", params={"transform": "clean"}).json()["total"] == 1
    assert c.get("/api/runs", params={"since": "2999-01-01"}).json()["total"] == 0
    assert c.get("/api/runs", params={"status": "nope"}).status_code == 400
    assert c.get("/api/runs", params={"since": "yesterday"}).status_code == 400
    keys = {a["key"] for a in c.get("/api/artifacts").json()["artifacts"]}
    assert {"raw.csv", "clean.csv", XSS_KEY} <= keys
    assert c.get("/api/artifacts", params={"suffix": ".csv"}).json()["total"] == 2
    assert c.get("/api/transforms").json()["total"] >= 2
    assert c.get("/api/runs/nosuchrun").status_code == 404
    assert c.get("/runs/nosuchrun").status_code == 404


def test_api_artifact_and_lineage(store: Store) -> None:
    c = client()
    art = c.get(f"/api/artifacts/{store.clean}").json()
    assert art["run"]["uid"] == store.run2
    assert art["preview"] == {"kind": "table", "columns": ["sample", "count"],
                              "rows": [["a", "1"], ["b", "2"]]}
    raw = c.get(f"/api/artifacts/{store.raw}").json()
    assert [r["uid"] for r in raw["input_of_runs"]] == [store.run2]
    up = c.get(f"/api/lineage/artifact/{store.clean}", params={"direction": "up",
                                                                "depth": 10}).json()
    labels = {n["label"] for n in up["nodes"]}
    assert {"clean.csv", "raw.csv", "clean", "make_raw"} <= labels
    assert {e["kind"] for e in up["edges"]} == {"input", "output"}
    one = c.get(f"/api/lineage/artifact/{store.raw}", params={"direction": "down"}).json()
    assert {n["label"] for n in one["nodes"]} == {"raw.csv", "clean"}
    assert c.get(f"/api/lineage/artifact/{store.raw}",
                 params={"direction": "sideways"}).status_code == 400
    assert c.get(f"/api/lineage/table/{store.raw}").status_code == 400


def test_pages_escape_user_strings(store: Store) -> None:
    c = client()
    pages = [c.get(f"/runs/{store.run1}").text, c.get(f"/runs/{store.run2}").text,
             c.get(f"/artifacts/{store.xss}").text, c.get("/artifacts").text,
             c.get(f"/artifacts/{store.clean}").text]
    for html in pages:
        assert "<script>alert" not in html and "<img src=x" not in html
        assert "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "").replace(
            "onerror=alert(2)&gt;", "").replace("onerror=alert(1)\\u003e", "").replace(
            "onerror=alert(2)\\u003e", "")
    assert "&lt;script&gt;alert(&#34;k&#34;)&lt;/script&gt;" in pages[2]
    assert "&lt;img src=x onerror=alert(2)&gt;" in pages[0]
    # the graph JSON in <script> has <, > and & escaped, and still parses to the key
    blob = re.search(r'id="fl-graph-data">(.*?)</script>', pages[1], re.S)
    assert blob is not None and "<" not in blob.group(1)
    assert XSS_KEY in {n["label"] for n in json.loads(blob.group(1))["nodes"]}
    assert json.loads(json_for_script({"k": "</script><!--&"})) == {"k": "</script><!--&"}
    headers = c.get("/runs").headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"


def test_read_only(store: Store) -> None:
    c = client()
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        r = c.request(method, f"/api/runs/{store.run1}")
        assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD"
    assert c.head("/runs").status_code == 200


def test_token_checked_on_every_request(store: Store) -> None:
    c = client(TOKEN)
    assert c.get("/api/runs").status_code == 401
    assert c.get("/api/runs", headers={"Authorization": "Bearer wrong-token-xxxxxxxx"}
                 ).status_code == 401
    assert c.get("/api/runs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
    first = c.get(f"/runs?status=completed&token={TOKEN}", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/runs?status=completed"
    assert "HttpOnly" in first.headers["set-cookie"]
    assert c.get("/runs?status=completed").status_code == 200  # the cookie now
    assert client(TOKEN).get("/static/graph.js").status_code == 401
    assert c.post("/api/runs", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 405


def test_loopback_only_without_token(store: Store) -> None:
    """DNS rebinding: a page of another site resolving to 127.0.0.1 is refused."""
    c = TestClient(create_app(None), base_url="http://evil.example:8765")
    assert c.get("/api/runs").status_code == 403
    assert client().get("/api/runs").status_code == 200


def test_options_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    assert check_options("127.0.0.1", 8765, None) is None
    assert check_options("localhost", 0, None) is None
    for host in ("0.0.0.0", "::", "192.0.2.1", "example.org"):
        with pytest.raises(ValidationError, match="needs a token"):
            check_options(host, 8765, None)
    assert check_options("0.0.0.0", 8765, TOKEN) == TOKEN
    with pytest.raises(ValidationError, match="port"):
        check_options("127.0.0.1", 70000, None)
    with pytest.raises(ValidationError, match="at least"):
        check_options("0.0.0.0", 8765, "short")
    with pytest.raises(ValidationError, match="needs a token"):
        ui_command(host="0.0.0.0", port=8765, token=None)
    monkeypatch.setenv(TOKEN_ENV, TOKEN)
    assert check_options("0.0.0.0", 8765, None) == TOKEN
    assert make_server("0.0.0.0", 0, None).config.host == "0.0.0.0"


def test_server_listens_on_loopback_only(served: Served, store: Store) -> None:
    server = served.server
    addresses = {s.getsockname()[0] for srv in server.servers  # type: ignore[attr-defined]
                 for s in srv.sockets}
    assert addresses == {"127.0.0.1"}
    port = int(served.url.rsplit(":", 1)[1])
    with pytest.raises(OSError):  # another loopback address: a 0.0.0.0 bind would answer
        socket.create_connection(("127.0.0.2", port), timeout=2).close()
    r = httpx.get(served.url + f"/api/runs/{store.run1}", timeout=10)
    assert r.json()["params"]["n"] == 3
    assert r.headers.get("server") is None
    config = server.config  # type: ignore[attr-defined]
    assert config.limit_concurrency and config.h11_max_incomplete_event_size == 16384
    try:  # h11's limit on an incomplete request head: 400, or reset while still sending
        status = httpx.get(served.url + "/runs", headers={"X-Big": "a" * 200_000},
                           timeout=10).status_code
    except httpx.TransportError:
        status = 400
    assert status == 400


def test_render_html_is_self_contained(store: Store) -> None:
    graph = client().get(f"/api/lineage/artifact/{store.clean}",
                         params={"direction": "up", "depth": 5}).json()
    html = render_html(graph)
    assert "cytoscape" in html and "raw.csv" in html
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=\"?http|https?://cdn", html)
    csp = re.search(r'Content-Security-Policy" content="([^"]+)"', html)
    assert csp is not None and "default-src 'none'" in csp.group(1)
    assert csp.group(1).count("'sha256-") == 3
    graph["nodes"][0]["label"] = XSS_KEY
    escaped = render_html(graph)
    assert "<script>alert" not in escaped and "<img src=x" not in escaped


class _DagsterAdapter:
    """A third-party adapter: an orchestrator the ui has never heard of."""

    @hookimpl
    def flowlineage_adapters(self) -> dict[str, object]:
        return {"name": "dagster-test", "orchestrator": "dagster",
                "reference_types": ["dagster_op_run"], "color": ("#fce7f3", "#9d174d")}


@pytest.fixture
def dagster() -> Iterator[None]:
    pm = plugins.get_plugin_manager()
    adapter = _DagsterAdapter()
    pm.register(adapter, name="dagster-test")
    yield
    pm.unregister(adapter)


def test_a_third_party_orchestrator_reaches_filter_legend_and_graph(store: Store,
                                                                    dagster: None) -> None:
    tf = get_or_create_transform("ops.load", type="function")
    ids = upsert_runs([dict(transform_id=tf.id, reference_type="dagster_op_run",
                            reference="op-1", status="completed")])
    op = fl.Run.get(ids[("dagster_op_run", "op-1")])
    c = client()
    runs_page = c.get("/runs").text
    options = re.findall(r'<option value="([^"]*)"', runs_page.split('name="orchestrator"')[1]
                         .split("</select>")[0])
    declared = [*dict.fromkeys(a.orchestrator for a in plugins.adapters()), "python"]
    assert options == ["", *declared] and "dagster" in declared  # from the adapters
    found = c.get("/api/runs", params={"orchestrator": "dagster"}).json()
    assert [r["uid"] for r in found["runs"]] == [op.uid]
    assert found["runs"][0]["orchestrator"] == "dagster"
    assert c.get("/api/runs", params={"orchestrator": "python"}).json()["total"] == 2
    page = c.get(f"/runs/{op.uid}").text
    assert "background:#fce7f3;border-color:#9d174d" in page  # its swatch and legend
    blob = re.search(r'id="fl-graph-data">(.*?)</script>', page, re.S)
    assert blob is not None
    graph = json.loads(blob.group(1))
    assert graph["palette"]["runs"]["dagster"] == ["#fce7f3", "#9d174d"]
    assert {n["orchestrator"] for n in graph["nodes"] if n["kind"] == "run"} == {"dagster"}
    standalone = render_html(c.get(f"/api/lineage/run/{op.uid}").json())
    assert '"dagster":["#fce7f3","#9d174d"]' in standalone

"""The weblog receiver against idle, slow and exposed use (uvicorn on 127.0.0.1, raw
sockets and httpx): timeouts, the connection cap, 422 against 503, loopback without token."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import flowlineage as fl
import httpx
import pytest
from flowlineage.errors import ConfigurationError
from flowlineage_nextflow.weblog_server import create_app, server_config

from .nf_helpers import Receiver


def _connect(receiver: Receiver) -> socket.socket:
    host, port = receiver.base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def _closed_within(sock: socket.socket, seconds: float) -> bytes:
    """What the server sent before closing ``sock`` (fails if it stays open)."""
    sock.settimeout(seconds)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except TimeoutError:
        pytest.fail(f"connection still open after {seconds} s")
    finally:
        sock.close()
    return received


def _event(run_id: str, event: str, **trace: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"runId": run_id, "runName": "x", "event": event,
                            "utcTime": "2024-05-01T10:00:00Z"}
    if trace:
        body["trace"] = {"task_id": 1, "name": "A (1)", "process": "A", **trace}
    return body


def test_idle_and_half_open_connections_are_closed(weblog_strict: Receiver) -> None:
    idle = _connect(weblog_strict)
    half = _connect(weblog_strict)
    half.sendall(b"POST /" + weblog_strict.token.encode() + b" HTTP/1.1\r\nHost: x\r\n")
    start = time.monotonic()
    assert _closed_within(idle, 5) == b""
    assert _closed_within(half, 5) == b""
    assert time.monotonic() - start < 5
    assert httpx.post(weblog_strict.url, json=_event("after", "started")).status_code == 200


def test_a_stalled_body_gets_408(weblog_strict: Receiver) -> None:
    sock = _connect(weblog_strict)
    sock.sendall(b"POST /" + weblog_strict.token.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                 b"Content-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"runId\"")
    answer = _closed_within(sock, 10)
    assert answer.startswith(b"HTTP/1.1 408"), answer


def test_many_idle_connections_do_not_stop_it(weblog_strict: Receiver) -> None:
    idle = [_connect(weblog_strict) for _ in range(60)]  # three times the cap
    try:
        over = httpx.post(weblog_strict.url, json=_event("capped", "started"), timeout=10)
        assert over.status_code == 503  # answered at once, not left waiting
        deadline = time.monotonic() + 10
        while True:  # the idle ones time out; then events go in again
            ok = httpx.post(weblog_strict.url, json=_event("capped", "started"), timeout=10)
            if ok.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert ok.status_code == 200
    finally:
        for sock in idle:
            sock.close()
    assert fl.Run.get(reference="capped").status == "started"


def test_an_oversized_head_is_refused(weblog_strict: Receiver) -> None:
    sock = _connect(weblog_strict)
    sock.sendall(b"POST /" + weblog_strict.token.encode() + b" HTTP/1.1\r\nHost: x\r\n"
                 + b"X-Pad: " + b"a" * 100_000)  # a head that never ends
    assert _closed_within(sock, 5).startswith(b"HTTP/1.1 400")
    assert httpx.post(weblog_strict.url, json=_event("fine", "started")).status_code == 200


def test_an_event_that_can_never_be_stored_is_422_without_sql(weblog: Receiver) -> None:
    assert httpx.post(weblog.url, json=_event("r", "started")).status_code == 200
    body = json.dumps(_event("r", "process_completed", status="COMPLETED", process="P"))
    body = body.replace('"P"', '"\\ud800"')  # valid JSON, but no UTF-8 for the database
    for _ in range(2):  # refused for good, not "retry" (503)
        response = httpx.post(weblog.url, content=body)
        assert response.status_code == 422, response.text
        reason = response.json()["error"]
        assert "cannot be recorded" in reason
        assert not any(word in reason.upper() for word in ("SELECT", "INSERT", "UPDATE", "SQL"))
    assert fl.Run.get(reference="r").status == "started"


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.7", "example.org"])
def test_an_exposed_host_needs_a_token(host: str) -> None:
    with pytest.raises(ConfigurationError, match="without a token"):
        server_config(create_app(), host, 8585)
    assert server_config(create_app(token="t"), host, 8585, token="t").host == host


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost", "127.0.0.2"])
def test_loopback_needs_no_token(host: str) -> None:
    config = server_config(create_app(), host, 8585)
    assert (config.timeout_keep_alive, config.limit_concurrency) == (10.0, 400)
    assert config.h11_max_incomplete_event_size == 64 * 1024


def test_serve_refuses_an_exposed_host_without_a_token(fl_home: Path) -> None:
    from .test_nextflow_cli import cli

    result = cli("nextflow", "serve", "--host", "0.0.0.0", "--port", "1")
    assert result.exit_code != 0
    assert "without a token" in result.output
    assert not (fl_home / "lineage.db").exists()  # refused before connecting

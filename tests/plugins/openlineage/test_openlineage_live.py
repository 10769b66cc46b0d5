"""Live events through the observer hooks: file, HTTP, console and the client's own
configuration; off (and nearly free) when nothing is configured."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import ModuleType
from typing import Any

import flowlineage as fl
import pytest
from flowlineage.cli.app import main
from flowlineage.db.engine import Instance

Validator = Callable[[dict[str, Any]], None]


def _lifecycle(tmp: Path, status: str = "completed") -> tuple[fl.Run, fl.Artifact, fl.Artifact]:
    """A tracked run that reads one artifact and writes another, then ends with ``status``."""
    (tmp / "in.csv").write_text("a\n1\n")
    (tmp / "out.csv").write_text("a\n2\n")
    source = fl.Artifact(str(tmp / "in.csv"), key="inputs/in.csv").save()
    run = fl.track(transform="live_job.py", params={"alpha": 1})
    source.cache()  # marks it an input: artifact_used
    made = fl.Artifact(str(tmp / "out.csv"), key="outputs/out.csv").save()  # artifact_saved
    fl.finish(status)
    return run, source, made


def _check_lifecycle(events: list[dict[str, Any]], run: fl.Run, source: fl.Artifact,
                     made: fl.Artifact, validate: Validator, final: str = "COMPLETE") -> None:
    from flowlineage_openlineage.events import run_uuid

    for event in events:
        validate(event)
    mine = [e for e in events if e["run"]["runId"] == run_uuid(run.uid)]
    states = [e["eventType"] for e in mine]
    assert states[0] == "START" and states[-1] == final
    assert set(states[1:-1]) == {"RUNNING"}
    assert all(e["job"]["name"] == "live_job.py" for e in mine)
    running_inputs = [d["name"] for e in mine[1:-1] for d in e["inputs"]]
    running_outputs = [d["name"] for e in mine[1:-1] for d in e["outputs"]]
    assert any(name.endswith("/inputs/in.csv") for name in running_inputs)
    assert any(name.endswith("/outputs/out.csv") for name in running_outputs)
    end = mine[-1]
    assert [d["facets"]["version"]["datasetVersion"] for d in end["inputs"]] == [source.uid]
    assert made.uid in [d["facets"]["version"]["datasetVersion"] for d in end["outputs"]]


def test_file_transport(instance: Instance, ol_plugin: ModuleType, validate_event: Validator,
                        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "live.jsonl"
    monkeypatch.setenv("FLOWLINEAGE_OPENLINEAGE", f"file:{target}")
    run, source, made = _lifecycle(tmp_path)
    events = [json.loads(line) for line in target.read_text().splitlines()]
    _check_lifecycle(events, run, source, made, validate_event)


@pytest.mark.parametrize("status, state", [("errored", "FAIL"), ("aborted", "ABORT")])
def test_failed_and_aborted_runs(
    instance: Instance, ol_plugin: ModuleType, validate_event: Validator, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, status: str, state: str
) -> None:
    target = tmp_path / "live.jsonl"
    monkeypatch.setenv("FLOWLINEAGE_OPENLINEAGE", f"file://{target}")
    run, source, made = _lifecycle(tmp_path, status)
    events = [json.loads(line) for line in target.read_text().splitlines()]
    _check_lifecycle(events, run, source, made, validate_event, final=state)


def test_reaped_runs_are_aborted(
    instance: Instance, ol_plugin: ModuleType, validate_event: Validator, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowlineage.adapters import get_or_create_transform, upsert_runs
    from flowlineage.db.schema import utcnow
    from flowlineage_openlineage.events import run_uuid

    tf = get_or_create_transform("prefect:flows.lost", type="flow")
    ids = upsert_runs([dict(transform_id=tf.id, reference_type="test", reference="lost",
                            status="started", started_at=utcnow())])
    target = tmp_path / "live.jsonl"
    monkeypatch.setenv("FLOWLINEAGE_OPENLINEAGE", f"file:{target}")
    time.sleep(0.05)
    assert main(["runs", "reap", "--older-than", "0s"]) == 0
    events = [json.loads(line) for line in target.read_text().splitlines()]
    assert [(e["run"]["runId"], e["eventType"]) for e in events] == [
        (run_uuid(fl.Run.get(ids[("test", "lost")]).uid), "ABORT")]
    validate_event(events[0])


class _Collector(BaseHTTPRequestHandler):
    bodies: list[tuple[str, dict[str, Any]]] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.bodies.append((self.path, json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""


@pytest.fixture
def lineage_server() -> Iterator[tuple[str, list[tuple[str, dict[str, Any]]]]]:
    """A local HTTP server collecting POSTed events (an OpenLineage backend stand-in)."""
    bodies: list[tuple[str, dict[str, Any]]] = []
    handler = type("Handler", (_Collector,), {"bodies": bodies})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    server.shutdown()
    server.server_close()
    thread.join()


def test_http_transport(
    instance: Instance, ol_plugin: ModuleType, validate_event: Validator, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    lineage_server: tuple[str, list[tuple[str, dict[str, Any]]]]
) -> None:
    url, bodies = lineage_server
    monkeypatch.setenv("FLOWLINEAGE_OPENLINEAGE", url)
    run, source, made = _lifecycle(tmp_path)
    assert {path for path, _ in bodies} == {"/api/v1/lineage"}
    _check_lifecycle([body for _, body in bodies], run, source, made, validate_event)


def test_the_clients_own_configuration(
    instance: Instance, ol_plugin: ModuleType, validate_event: Validator, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "client.jsonl"
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__TYPE", "file")
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", str(target))
    monkeypatch.setenv("OPENLINEAGE__TRANSPORT__APPEND", "true")
    monkeypatch.setenv("FLOWLINEAGE_OPENLINEAGE_NAMESPACE", "team-lineage")
    run, source, made = _lifecycle(tmp_path)
    events = [json.loads(line) for line in target.read_text().splitlines()]
    _check_lifecycle(events, run, source, made, validate_event)
    assert {e["job"]["namespace"] for e in events} == {"team-lineage"}


def test_console_transport_logs_events(
    instance: Instance, ol_plugin: ModuleType, validate_event: Validator, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("FLOWLINEAGE_OPENLINEAGE", "console")
    with caplog.at_level(logging.INFO, logger="openlineage.client.transport.console"):
        run, source, made = _lifecycle(tmp_path)
    events = [json.loads(r.getMessage()) for r in caplog.records
              if r.name == "openlineage.client.transport.console"]
    _check_lifecycle(events, run, source, made, validate_event)


def test_off_unless_configured(
    instance: Instance, ol_plugin: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture
) -> None:
    from flowlineage_openlineage import live

    assert live.emitter() is None
    monkeypatch.setenv("OPENLINEAGE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("FLOWLINEAGE_OPENLINEAGE", "off")
    assert live.emitter() is None  # our switch wins over the client's settings
    monkeypatch.setenv("FLOWLINEAGE_OPENLINEAGE", f"file:{tmp_path / 'x.jsonl'}")
    monkeypatch.setenv("OPENLINEAGE_DISABLED", "true")
    assert live.emitter() is None  # the client's kill switch wins over everything
    monkeypatch.delenv("OPENLINEAGE_DISABLED")
    monkeypatch.setenv("FLOWLINEAGE_OPENLINEAGE", "ftp://example.org/events")
    with caplog.at_level(logging.WARNING, logger="flowlineage.openlineage"):
        _lifecycle(tmp_path)  # tracking goes on with a bad target
    warnings = [r.getMessage() for r in caplog.records if r.name == "flowlineage.openlineage"]
    assert len(warnings) == 1 and "'ftp://example.org/events' is not understood" in warnings[0]
    assert not (tmp_path / "x.jsonl").exists()


def test_disabled_hooks_cost_almost_nothing(ol_plugin: ModuleType) -> None:
    hooks = ol_plugin
    calls = 20_000
    began = time.perf_counter()
    for _ in range(calls):
        hooks.flowlineage_run_started(run=None)
        hooks.flowlineage_artifact_saved(artifact=None, run=None)
    per_call = (time.perf_counter() - began) / (2 * calls)
    # a few environment lookups (~10 µs on a busy 2-core machine) against the milliseconds of
    # the database write each hook follows
    assert per_call < 200e-6, f"{per_call * 1e6:.1f} µs per disabled hook call"
    # and nothing heavy is imported for them
    code = ("import sys; from flowlineage_openlineage import hooks; "
            "hooks.flowlineage_run_started(run=None); "
            "heavy = {'openlineage.client', 'sqlalchemy', 'requests'} & set(sys.modules); "
            "assert not heavy, heavy")
    subprocess.run([sys.executable, "-c", code], check=True,
                   env={"PATH": "/usr/bin:/bin", "PYTHONPATH": ":".join(sys.path)})

"""The weblog receiver over real HTTP (uvicorn on 127.0.0.1, httpx clients): a concurrent
replay of a fixture trace, idempotency and order, auth, size limits and bad requests."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from collections.abc import Iterator
from typing import Any

import flowlineage as fl
import httpx
import pytest
from flowlineage.db.engine import Instance
from flowlineage_nextflow import weblog_server as server_module
from flowlineage_nextflow.ingest_trace import ingest_trace
from flowlineage_nextflow.trace import parse_trace
from flowlineage_nextflow.weblog_events import parse_weblog_event
from flowlineage_nextflow.weblog_ingest import record_events
from flowlineage_nextflow.weblog_server import MAX_BODY, WeblogWriter
from sqlalchemy import text

from .nf_helpers import TOKEN, TRACES, Receiver, counts, weblog_events

REPLAYED = TRACES / "openproblems__execution_trace_217rows.txt"  # retries and failures


def post_all(url: str, bodies: list[dict[str, Any]], senders: int = 32) -> list[int]:
    """POST every body with ``senders`` concurrent clients; return the status codes."""

    async def main() -> list[int]:
        pending = list(enumerate(bodies))
        codes = [0] * len(bodies)
        limits = httpx.Limits(max_connections=senders)
        async with httpx.AsyncClient(timeout=120, limits=limits) as client:

            async def sender() -> None:
                while pending:
                    i, body = pending.pop()
                    response = await client.post(url, content=json.dumps(body),
                                                 headers={"content-type": "application/json"})
                    codes[i] = response.status_code

            await asyncio.gather(*(sender() for _ in range(senders)))
        return codes

    return asyncio.run(main())


def snapshot(reference: str) -> dict[str, tuple[Any, ...]]:
    """A workflow run's task runs by reference suffix: everything that should match."""
    workflow = fl.Run.get(reference=reference, reference_type="nextflow_run")
    tasks = workflow.initiated_runs.all()
    suffix = {r.uid: (r.reference or "").split(":", 1)[1] for r in tasks}
    found = {}
    for run in tasks:
        features = run.features.get_values()
        if "restart_of" in features:
            features["restart_of"] = suffix[features["restart_of"]]
        found[suffix[run.uid]] = (run.name, run.status, run.started_at, run.finished_at,
                                  run.transform.key, run.reference_type, features)
    return found


def test_concurrent_replay_gives_the_runs_of_trace_ingestion(weblog: Receiver) -> None:
    started, tasks, completed = weblog_events(REPLAYED, "weblog-run", "openproblems")
    random.Random(7).shuffle(tasks)  # events of one task arrive in any order
    assert httpx.post(weblog.url, json=started).status_code == 200
    codes = post_all(weblog.url, tasks)
    assert codes == [200] * len(tasks)  # every event accepted is committed: none lost
    assert httpx.post(weblog.url, json=completed).status_code == 200

    ingest_trace(REPLAYED, run_id="trace-run", pipeline="openproblems")
    replayed, ingested = snapshot("weblog-run"), snapshot("trace-run")
    assert len(replayed) == 217
    assert replayed == ingested
    retries = sum((row.attempt or 1) > 1 for row in parse_trace(REPLAYED).rows)
    assert sum("restart_of" in values[-1] for values in replayed.values()) == retries > 0
    workflow = fl.Run.get(reference="weblog-run")
    assert (workflow.status, workflow.name) == ("completed", "weblog_replay")
    assert workflow.params == {"input": "samples.csv"}
    assert workflow.transform.key == "nextflow:openproblems"

    before = counts()  # repeating events, in any order, changes nothing
    again = tasks[::5] + [started, completed] + tasks[::7]
    assert post_all(weblog.url, again, senders=8) == [200] * len(again)
    assert counts() == before and snapshot("weblog-run") == replayed


def _event(run_id: str, event: str, **extra: Any) -> dict[str, Any]:
    return {"runName": "tiny_turing", "runId": run_id, "event": event,
            "utcTime": "2024-05-01T10:00:00Z", **extra}


def _task(status: str, **extra: Any) -> dict[str, Any]:
    return {"task_id": 1, "hash": "ab/cdef12", "name": "ALIGN (s1)", "status": status,
            "submit": 1714557600000, **extra}


def test_task_metrics_are_one_bundle_merged_across_events(weblog_any: Receiver) -> None:
    submitted = _event("r2", "process_submitted", trace=_task("SUBMITTED", native_id="job-7",
                                                               queue="long"))
    done = _event("r2", "process_completed", trace=_task(
        "COMPLETED", exit=0, start=1714557601000, complete=1714557660000, realtime=59000))
    for body in (submitted, done):
        assert httpx.post(weblog_any.url, json=body).status_code == 200
    task = fl.Run.get(reference="r2:ab/cdef12")
    values = task.features.get_values()
    assert (values["native_id"], values["queue"], values["realtime"]) == ("job-7", "long", 59000)
    with fl.get_instance().read() as session:
        names = session.execute(text("SELECT name FROM run_feature_value WHERE run_id = :id"),
                                {"id": task.id}).scalars().all()
    assert names == ["bundle"]
    assert [r.id for r in fl.Run.filter(features__realtime__gt=1000)] == [task.id]
    assert [r.id for r in fl.Run.filter(features__queue="long")] == [task.id]


def test_status_never_goes_backwards(weblog_any: Receiver) -> None:
    weblog = weblog_any
    done = _event("r1", "process_completed", trace=_task(
        "COMPLETED", exit=0, start=1714557601000, complete=1714557660000, realtime=59000))
    for body in (done, _event("r1", "process_started", trace=_task("RUNNING")),
                 _event("r1", "process_submitted", trace=_task("SUBMITTED"))):
        assert httpx.post(weblog.url, json=body).status_code == 200
    task = fl.Run.get(reference="r1:ab/cdef12")
    assert task.status == "completed" and task.features.get_values()["realtime"] == 59000
    assert task.finished_at is not None and task.finished_at.minute == 1

    workflow = fl.Run.get(reference="r1")
    assert workflow.status == "started" and workflow.transform.key == "nextflow:unnamed"
    named = _event("r1", "started", metadata={"workflow": {"manifest": {"name": "demo"}}})
    failed = _event("r1", "completed", metadata={"workflow": {
        "success": False, "errorMessage": "ALIGN failed", "complete": "2024-05-01T11:00:00Z"}})
    for body in (named, _event("r1", "error"), failed, _event("r1", "error"),
                 _event("r1", "started")):
        assert httpx.post(weblog.url, json=body).status_code == 200
    workflow = fl.Run.get(reference="r1")
    assert (workflow.status, workflow.description) == ("errored", "ALIGN failed")
    assert workflow.transform.key == "nextflow:demo"
    assert workflow.finished_at is not None and workflow.finished_at.hour == 11


@pytest.mark.parametrize("how", ["path", "query", "bearer", "basic"])
def test_token_in_path_query_or_header(weblog: Receiver, how: str) -> None:
    body = _event(f"auth-{how}", "started")
    url, headers = weblog.base + "/", {}
    if how == "path":
        url = weblog.url
    elif how == "query":
        url = f"{weblog.base}/?token={TOKEN}"
    elif how == "bearer":
        headers["Authorization"] = f"Bearer {TOKEN}"
    else:
        headers["Authorization"] = "Basic " + base64.b64encode(
            f"nextflow:{TOKEN}".encode()).decode()
    assert httpx.post(url, json=body, headers=headers).status_code == 200
    assert fl.Run.filter(reference=f"auth-{how}").count() == 1


@pytest.mark.parametrize(("url", "headers"), [
    ("/", {}),
    ("/not-the-token", {}),
    ("/?token=nope", {}),
    ("/", {"Authorization": "Bearer nope"}),
    ("/", {"Authorization": "Basic " + base64.b64encode(b"nextflow:nope").decode()}),
    ("/", {"Authorization": "Basic %%%"}),
])
def test_missing_or_wrong_token_is_401(weblog: Receiver, url: str,
                                       headers: dict[str, str]) -> None:
    response = httpx.post(weblog.base + url, json=_event("x", "started"), headers=headers)
    assert response.status_code == 401 and "token" in response.json()["error"]
    assert fl.Run.filter().count() == 0
    assert httpx.get(weblog.base + "/").json() == {"status": "ok"}


def _chunks(total: int) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        chunk = b" " * min(65536, total - sent)
        sent += len(chunk)
        yield chunk


def test_bad_requests_are_refused_and_the_server_keeps_serving(weblog: Receiver) -> None:
    too_big = json.dumps(_event("big", "started", metadata={"workflow": {
        "pad": "x" * MAX_BODY}}))
    response = httpx.post(weblog.url, content=too_big)
    assert response.status_code == 413
    streamed = httpx.post(weblog.url, content=_chunks(MAX_BODY + 1))  # no Content-Length
    assert streamed.status_code == 413
    cases = [
        (b"{not json", "invalid JSON"),
        (b"[1, 2]", "not a JSON object"),
        (json.dumps(_event("b", "exploded")).encode(), "unknown event 'exploded'"),
        (json.dumps(_event("b", "process_started")).encode(), "no trace object"),
        (json.dumps(_event("b", "process_started", trace={"task_id": 1, "name": "A",
                                                          "status": "RUNNING",
                                                          "realtime": "soon"})).encode(),
         "trace.realtime"),
        (b"\xff\xfe", "not UTF-8"),
    ]
    for body, reason in cases:
        response = httpx.post(weblog.url, content=body)
        assert response.status_code == 400 and reason in response.json()["error"], body
    assert fl.Run.filter().count() == 0
    ok = httpx.post(weblog.url, json=_event("fine", "started"))
    assert ok.status_code == 200 and ok.json() == {"status": "recorded"}
    assert fl.Run.get(reference="fine").status == "started"


def test_a_failing_event_does_not_take_its_batch_down(
        instance: Instance, monkeypatch: pytest.MonkeyPatch) -> None:
    real = record_events

    def record(events: Any, known: Any, pipeline: Any) -> None:
        if any(e.run_id == "poison" for e in events):
            raise RuntimeError("poison event")
        real(events, known, pipeline)

    monkeypatch.setattr(server_module, "record_events", record)
    writer = WeblogWriter()
    bodies = [_event(f"run-{i}", "started") for i in range(20)]
    bodies.insert(7, _event("poison", "started"))
    futures = [writer.submit(parse_weblog_event(json.dumps(b))) for b in bodies]
    writer.start()  # everything is queued: the first batch holds all 21 events
    writer.stop()
    errors = [f.exception() for f in futures]
    assert [str(e) for e in errors if e is not None] == ["poison event"]
    assert errors[7] is not None
    assert fl.Run.filter(reference_type="nextflow_run").count() == 20

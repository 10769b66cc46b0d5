"""Backfill export: every event valid against the OpenLineage schemas, states, parent chains,
datasets, ``--since``, and the ``flowlineage export openlineage`` command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import flowlineage as fl
import pytest
from flowlineage.adapters import (
    get_or_create_transform,
    link_recreated,
    link_run_inputs,
    upsert_runs,
)
from flowlineage.db.engine import Instance
from typer.testing import CliRunner

T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)
Validator = Callable[[dict[str, Any]], None]


def _at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def build_runs(tmp: Path) -> dict[str, Any]:
    """A Snakemake workflow and job, a Prefect flow → subflow → task chain, a Nextflow task,
    plus a scheduled, a started and a recreating run; one record per minute from T0."""
    tf = {key: get_or_create_transform(key, type=kind) for key, kind in [
        ("snakemake:Snakefile", "pipeline"), ("snakemake:rule fetch", "rule"),
        ("prefect:flows.main", "flow"), ("prefect:flows.sub", "flow"),
        ("prefect:tasks.clean", "task"), ("nextflow:STATS", "process"), ("job.py", "script")]}

    def row(ref: str, key: str, minute: int, status: str, parent: int | None = None,
            finished: bool = True) -> dict[str, Any]:
        return dict(transform_id=tf[key].id, reference_type="test", reference=ref,
                    status=status, started_at=_at(minute),
                    finished_at=_at(minute + 0.5) if finished else None,
                    initiated_by_run_id=parent)

    ids: dict[str, int] = {}

    def add(*rows: dict[str, Any]) -> None:
        ids.update({ref: rid for (_, ref), rid in upsert_runs(list(rows)).items()})

    add(row("wf", "snakemake:Snakefile", 0, "completed"),
        row("main", "prefect:flows.main", 2, "completed"))
    add(row("job", "snakemake:rule fetch", 1, "completed", parent=ids["wf"]),
        row("sub", "prefect:flows.sub", 3, "completed", parent=ids["main"]))
    add(row("task", "prefect:tasks.clean", 4, "errored", parent=ids["sub"]),
        row("stats", "nextflow:STATS", 5, "aborted"),
        row("queued", "job.py", 6, "scheduled", finished=False),
        row("running", "job.py", 7, "started", finished=False),
        row("again", "job.py", 8, "completed"))
    runs = {ref: fl.Run.get(rid) for ref, rid in ids.items()}
    tmp.mkdir(exist_ok=True)
    (tmp / "raw.csv").write_text("a,b\n1,2\n")
    (tmp / "clean.csv").write_text("a\n1\n")
    raw = fl.Artifact(str(tmp / "raw.csv"), key="raw/counts.csv", run=runs["job"]).save()
    clean = fl.Artifact(str(tmp / "clean.csv"), key="clean/counts.csv", run=runs["task"]).save()
    link_run_inputs([(runs["task"].id, raw.id), (runs["stats"].id, raw.id)])
    link_recreated([(runs["again"].id, raw.id)])
    return {**runs, "raw": raw, "clean": clean}


def _export(out: Path, since: datetime | None = None) -> list[dict[str, Any]]:
    from flowlineage_openlineage.export import export_events

    progress: list[tuple[int, int]] = []
    count = export_events(str(out), since, lambda done, total: progress.append((done, total)))
    events = [json.loads(line) for line in out.read_text().splitlines()]
    assert count == len(events)
    assert progress[-1][0] == progress[-1][1]
    return events


def _run_id(run: fl.Run) -> str:
    from flowlineage_openlineage.events import run_uuid

    return run_uuid(run.uid)


def test_backfill_events_are_valid_and_complete(
    any_instance: Instance, ol_plugin: ModuleType, validate_event: Validator, tmp_path: Path
) -> None:
    data = build_runs(tmp_path / "files")
    events = _export(tmp_path / "events.jsonl")
    for event in events:
        validate_event(event)
    by_run: dict[str, list[str]] = {}
    for event in events:
        by_run.setdefault(event["run"]["runId"], []).append(event["eventType"])
    expected = {"wf": ["START", "COMPLETE"], "job": ["START", "COMPLETE"],
                "main": ["START", "COMPLETE"], "sub": ["START", "COMPLETE"],
                "task": ["START", "FAIL"], "stats": ["START", "ABORT"], "running": ["START"],
                "again": ["START", "COMPLETE"]}
    assert by_run == {_run_id(data[ref]): states for ref, states in expected.items()}
    run_ids = {_run_id(data[ref]) for ref in expected}
    assert len(run_ids) == 8 and all(uuid.UUID(r).version == 5 for r in run_ids)
    # stable: a second export gives the same events
    assert _export(tmp_path / "again.jsonl") == events
    first = events[0]
    assert first["job"] == {"namespace": "flowlineage", "name": "snakemake:Snakefile",
                            "facets": {"jobType": first["job"]["facets"]["jobType"]}}
    assert first["job"]["facets"]["jobType"]["integration"] == "SNAKEMAKE"
    assert first["job"]["facets"]["jobType"]["jobType"] == "PIPELINE"
    assert first["eventTime"] == "2024-05-01T10:00:00+00:00"
    assert first["producer"].startswith("https://pypi.org/project/flowlineage/")


def test_parent_chains_point_at_exported_runs(
    instance: Instance, ol_plugin: ModuleType, validate_event: Validator, tmp_path: Path
) -> None:
    data = build_runs(tmp_path / "files")
    events = _export(tmp_path / "events.jsonl")
    exported = {e["run"]["runId"]: e for e in events}
    parents = {e["run"]["runId"]: e["run"]["facets"].get("parent") for e in events}
    for run_id, parent in parents.items():
        if parent is not None:  # every parent and root is itself an exported run and job
            assert exported[parent["run"]["runId"]]["job"]["name"] == parent["job"]["name"]
            assert exported[parent["root"]["run"]["runId"]]["job"]["name"] == \
                parent["root"]["job"]["name"]
            assert parent["run"]["runId"] != run_id
    task = parents[_run_id(data["task"])]
    assert task is not None
    assert task["run"]["runId"] == _run_id(data["sub"])
    assert (task["job"]["namespace"], task["job"]["name"]) == ("flowlineage", "prefect:flows.sub")
    assert task["root"]["run"]["runId"] == _run_id(data["main"])
    assert task["root"]["job"]["name"] == "prefect:flows.main"
    sub = parents[_run_id(data["sub"])]
    assert sub is not None and sub["run"]["runId"] == sub["root"]["run"]["runId"]
    assert parents[_run_id(data["job"])]["root"]["job"]["name"] == "snakemake:Snakefile"
    assert parents[_run_id(data["main"])] is None and parents[_run_id(data["wf"])] is None


def test_datasets_are_named_after_the_storage(
    instance: Instance, ol_plugin: ModuleType, tmp_path: Path
) -> None:
    data = build_runs(tmp_path / "files")
    events = _export(tmp_path / "events.jsonl")
    root = instance.storage_root
    task_end = next(e for e in events if e["eventType"] == "FAIL")
    assert [(d["namespace"], d["name"]) for d in task_end["inputs"]] == [
        ("file", f"{root}/raw/counts.csv")]
    assert [(d["namespace"], d["name"]) for d in task_end["outputs"]] == [
        ("file", f"{root}/clean/counts.csv")]
    assert task_end["outputs"][0]["facets"]["version"]["datasetVersion"] == data["clean"].uid
    task_start = next(e for e in events if e["run"]["runId"] == task_end["run"]["runId"])
    assert task_start["eventType"] == "START" and len(task_start["inputs"]) == 1
    assert task_start["outputs"] == []
    again = [e for e in events if e["run"]["runId"] == _run_id(data["again"])]
    assert [d["name"] for d in again[-1]["outputs"]] == [f"{root}/raw/counts.csv"]  # recreated


def test_s3_datasets_use_the_bucket_namespace(
    s3_instance: Instance, ol_plugin: ModuleType, validate_event: Validator, tmp_path: Path
) -> None:
    tf = get_or_create_transform("prefect:flows.s3", type="flow")
    ids = upsert_runs([dict(transform_id=tf.id, reference_type="test", reference="s3",
                            status="completed", started_at=T0, finished_at=_at(1))])
    (tmp_path / "x.csv").write_text("x\n")
    art = fl.Artifact(str(tmp_path / "x.csv"), key="tables/x.csv",
                      run=fl.Run.get(ids[("test", "s3")])).save()
    events = _export(tmp_path / "events.jsonl")
    bucket_root = s3_instance.storage_root  # s3://<bucket>/lineage
    bucket = bucket_root.split("/")[2]
    output = events[-1]["outputs"][0]
    assert (output["namespace"], output["name"]) == (f"s3://{bucket}", "lineage/tables/x.csv")
    assert output["facets"]["version"]["datasetVersion"] == art.uid
    for event in events:
        validate_event(event)


def test_since_keeps_later_events_only(
    instance: Instance, ol_plugin: ModuleType, tmp_path: Path
) -> None:
    data = build_runs(tmp_path / "files")
    events = _export(tmp_path / "events.jsonl", since=_at(4.25))
    # task: started 10:04 (before), failed 10:04:30 (after); later runs entirely
    assert [(e["run"]["runId"], e["eventType"]) for e in events] == [
        (_run_id(data["task"]), "FAIL"), (_run_id(data["stats"]), "START"),
        (_run_id(data["stats"]), "ABORT"), (_run_id(data["running"]), "START"),
        (_run_id(data["again"]), "START"), (_run_id(data["again"]), "COMPLETE")]
    assert all(datetime.fromisoformat(e["eventTime"]) >= _at(4.25) for e in events)
    assert _export(tmp_path / "none.jsonl", since=_at(60)) == []


def test_export_command(
    instance: Instance, ol_plugin: ModuleType, validate_event: Validator, tmp_path: Path
) -> None:
    from flowlineage.cli.app import build_app

    build_runs(tmp_path / "files")
    out = tmp_path / "cli.jsonl"
    result = CliRunner().invoke(build_app(), ["export", "openlineage", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert f"wrote 15 openlineage event(s) to {out}" in result.stderr
    lines = out.read_text().splitlines()
    assert len(lines) == 15
    for line in lines:
        validate_event(json.loads(line))
    later = CliRunner().invoke(build_app(), ["export", "openlineage", "--since",
                                             "2024-05-01T10:07:00", "-o", "-"])
    assert later.exit_code == 0, later.output
    assert [json.loads(line)["eventType"] for line in later.stdout.splitlines()] == [
        "START", "START", "COMPLETE"]
    bad = CliRunner().invoke(build_app(), ["export", "openlineage", "-o",
                                           str(tmp_path / "missing" / "x.jsonl")])
    assert bad.exit_code == 2 and bad.stderr.startswith("Error: cannot write events to ")


def test_export_command_in_a_subprocess(
    instance: Instance, validate_event: Validator, tmp_path: Path
) -> None:
    if not entry_points(group="flowlineage", name="openlineage"):
        reason = "the openlineage entry point is not installed: pip install -e ."
        if os.environ.get("CI") == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)
    build_runs(tmp_path / "files")
    out = tmp_path / "events.jsonl"
    script = Path(sys.executable).with_name("flowlineage")
    proc = subprocess.run([str(script), "export", "openlineage", "-o", str(out)],
                          capture_output=True, text=True, timeout=120, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert "wrote 15 openlineage event(s)" in proc.stderr
    for line in out.read_text().splitlines():
        validate_event(json.loads(line))


def test_the_validator_rejects_broken_events(
    instance: Instance, ol_plugin: ModuleType, validate_event: Validator, tmp_path: Path
) -> None:
    from jsonschema import ValidationError

    build_runs(tmp_path / "files")
    event = next(e for e in _export(tmp_path / "e.jsonl") if e["run"]["facets"])
    broken_id = json.loads(json.dumps(event))
    broken_id["run"]["runId"] = "not-a-uuid"
    broken_parent = json.loads(json.dumps(event))
    del broken_parent["run"]["facets"]["parent"]["job"]
    broken_state = {**event, "eventType": "FINISHED"}
    for broken in (broken_id, broken_parent, broken_state):
        with pytest.raises(ValidationError):
            validate_event(broken)

"""Pipelines run through nextflowpy, with a stand-in ``nextflow`` on PATH that leaves what a
real run leaves (``.nextflow.log`` lines nextflowpy parses, a fixture trace, work directories, a
lineage store); plus stand-ins that hang and that crash."""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import flowlineage as fl
import flowlineage_nextflow
import pytest
from flowlineage.db.engine import Instance
from flowlineage_nextflow.trace import parse_trace

from .nf_helpers import SESSION, TASK, TRACES, build_lineage_store, build_work_dir, full_hash

TRACE = TRACES / "lifebit_gwas__execution_trace.txt"
RUN_NAME = "drunk_laplace"


def template(tmp: Path, session: str = SESSION, delay: float = 0.0) -> Path:
    """What the stand-in copies into the run directory: work dirs, a lineage store, a trace."""
    root = tmp / "template"
    rows = list(parse_trace(TRACE).rows)
    build_work_dir(root, rows)
    build_lineage_store(root / "lineage-src")
    shutil.copytree(root / "lineage-src" / ".lineage", root / ".lineage")
    record = root / ".lineage" / ".history"
    for entry in record.iterdir():  # the store's run is this session's run
        entry.write_text(entry.read_text().replace(SESSION, session))
    workflow = root / ".lineage" / "16b31030474f2e96c55f4940bca3ab64" / ".data.json"
    data = json.loads(workflow.read_text())
    data["spec"]["sessionId"] = session
    workflow.write_text(json.dumps(data))
    shutil.copy(TRACE, root / "trace.txt")
    tasks = []
    for row in rows:
        assert row.hash is not None
        tasks.append({"hash": row.hash, "name": row.name, "id": row.task_id, "exit": 0,
                      "dir": f"{row.hash[:2]}/{full_hash(row.hash)[2:]}"})
    (root / "plan.json").write_text(json.dumps({
        "session": session, "run_name": RUN_NAME, "tasks": tasks, "delay": delay}))
    return root


def pipeline(tmp: Path) -> Path:
    script = tmp / "gwas" / "main.nf"
    script.parent.mkdir()
    script.write_text("workflow { }\n")
    return script


def test_a_run_is_recorded_live_then_ingested(
        instance: Instance, tmp_path: Path, fake_nextflow: Callable[[str, Path], None]) -> None:
    fake_nextflow("run", template(tmp_path, delay=0.3))
    with fl.track(transform="launcher") as launcher:
        result = flowlineage_nextflow.run(pipeline(tmp_path), run_path=tmp_path / "run",
                                          params={"input": "samples.csv"}, poll=0.1,
                                          timeout=120)
    assert (result.status, result.timed_out, result.return_code) == ("completed", False, 0)
    assert result.execution.identifier == RUN_NAME  # nextflowpy parsed the log
    assert len(result.execution.process_executions) == 4
    workflow = result.run
    assert (workflow.reference, workflow.reference_type) == (SESSION, "nextflow_run")
    assert workflow.status == "completed" and workflow.name == RUN_NAME
    assert workflow.initiated_by_run_id == launcher.id
    assert workflow.transform.key == "nextflow:gwas"
    assert workflow.params == {"input": "samples.csv"}
    assert "--input='samples.csv'" in (workflow.cli_args or "")

    assert result.trace is not None and result.trace.status_counts == {"completed": 4}
    tasks = workflow.initiated_runs.filter(reference_type="nextflow_task").all()
    assert len(tasks) == 4
    for task in tasks:  # live rows and trace rows are the same runs
        assert task.status == "completed"
        assert task.features.get_values()["exit"] == 0  # from the trace
        assert task.output_artifacts.count() == 2  # from the work directory
    assert result.trace.input_links == 5

    assert result.lineage is not None and result.lineage.task_runs == 3
    (lineage_run,) = fl.Run.filter(reference_type="nextflow_run",
                                   reference__startswith="lid://").all()
    assert lineage_run.initiated_by_run_id == workflow.id
    multiqc = fl.Run.get(reference=f"lid://{TASK}")
    assert multiqc.initiated_by_run_id == lineage_run.id


def test_live_updates_while_the_pipeline_runs(
        instance: Instance, tmp_path: Path, fake_nextflow: Callable[[str, Path], None],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Each poll writes what changed: the workflow Run exists before the pipeline ends."""
    from flowlineage_nextflow.run import _Live

    seen: list[tuple[str, int]] = []
    record = _Live.record

    def spy(self: _Live, execution: object) -> None:
        record(self, execution)
        if self.run_id is not None:
            seen.append((fl.Run.get(self.run_id).status,
                         fl.Run.filter(initiated_by_run_id=self.run_id).count()))

    monkeypatch.setattr(_Live, "record", spy)
    fake_nextflow("run", template(tmp_path, delay=0.5))
    result = flowlineage_nextflow.run(pipeline(tmp_path), run_path=tmp_path / "run", poll=0.1,
                                      lineage=False, timeout=120)
    assert result.status == "completed" and result.lineage is None
    assert seen and seen[0][0] == "started"
    assert any(status == "started" and 0 < n < 4 for status, n in seen)


def test_a_hanging_nextflow_is_stopped_at_the_timeout(
        instance: Instance, tmp_path: Path, fake_nextflow: Callable[[str, Path], None]) -> None:
    fake_nextflow("hang", template(tmp_path))
    start = time.monotonic()
    result = flowlineage_nextflow.run(pipeline(tmp_path), run_path=tmp_path / "run", poll=0.1,
                                      timeout=3)
    assert time.monotonic() - start < 3 + 15
    assert result.timed_out and result.status == "aborted"
    assert result.return_code is not None and result.return_code < 0  # killed by a signal
    workflow = result.run
    assert workflow.reference == SESSION and workflow.status == "aborted"
    assert "timed out after 3 s" in (workflow.description or "")
    assert workflow.finished_at is not None


def test_a_crashing_nextflow_does_not_hang(
        instance: Instance, tmp_path: Path, fake_nextflow: Callable[[str, Path], None]) -> None:
    """nextflowpy waits forever for a log that never comes; the run ends as errored."""
    fake_nextflow("crash", template(tmp_path))
    start = time.monotonic()
    result = flowlineage_nextflow.run(pipeline(tmp_path), run_path=tmp_path / "run", poll=0.1,
                                      timeout=300)
    assert time.monotonic() - start < 30
    assert (result.status, result.timed_out, result.return_code) == ("errored", False, 1)
    assert result.execution is None
    workflow = result.run
    assert workflow.status == "errored" and (workflow.reference or "").startswith("launch-")
    assert "exited with code 1" in (workflow.description or "")
    assert "Unknown method" in (tmp_path / "run" / "stderr.txt").read_text()


def test_without_nextflow_on_path(instance: Instance, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from flowlineage.errors import ConfigurationError

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delitem(sys.modules, "nextflow", raising=False)
    with pytest.raises(ConfigurationError, match="nextflow"):
        flowlineage_nextflow.run(pipeline(tmp_path))

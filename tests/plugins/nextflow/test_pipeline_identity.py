"""Pipeline identity and the workflow run's own record: ``.nextflow.log`` files, bare traces
named after their folder, re-ingesting under another name, and workflow outputs."""

from __future__ import annotations

import os
import shutil
from datetime import datetime
from pathlib import Path

import flowlineage as fl
import pytest
from flowlineage.db.engine import Instance
from flowlineage.errors import IngestionError
from flowlineage_nextflow.ingest_lineage import ingest_lineage
from flowlineage_nextflow.ingest_log import ingest_log
from flowlineage_nextflow.ingest_trace import ingest_trace
from flowlineage_nextflow.nextflow_log import read_nextflow_log

from .nf_helpers import FIXTURES, RUN, TASK, TRACES, build_lineage_store

LOGS = FIXTURES / "log"
LIFEBIT_LOG = LOGS / "lifebit_gwas__.nextflow.log"
LIFEBIT_SESSION = "757a1a3f-80fd-40ae-b1c0-1b2187ef5af5"
FAILED_LOG = LOGS / "two_step_imputation__nextflow.log"


def _copy(source: Path, target: Path, mtime: str = "2024-12-01T00:00:00") -> Path:
    """A copy of a fixture with a fixed modification time (the log's year comes from it)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(source, target)
    stamp = datetime.fromisoformat(mtime).timestamp()
    os.utime(target, (stamp, stamp))
    return target


def test_log_says_who_ran_and_how_it_ended(tmp_path: Path) -> None:
    done = read_nextflow_log(_copy(LIFEBIT_LOG, tmp_path / "a" / ".nextflow.log"))
    assert (done.session_id, done.run_name, done.script, done.version, done.status) == (
        LIFEBIT_SESSION, "drunk_laplace", "main.nf", "20.07.1", "completed")
    assert done.command == "nextflow run main.nf" and done.error is None
    assert done.started_at.replace(tzinfo=None) == datetime(2024, 10, 31, 0, 20, 39, 568000)
    assert done.finished_at is not None
    assert done.finished_at.replace(tzinfo=None) == datetime(2024, 10, 31, 0, 21, 45, 837000)

    failed = read_nextflow_log(_copy(FAILED_LOG, tmp_path / "b" / ".nextflow.log.1"))
    assert (failed.run_name, failed.status) == ("reverent_williams", "errored")
    assert (failed.error or "").startswith("No signature of method: nextflow.util.ArrayBag")


def test_trace_with_its_log(instance: Instance, tmp_path: Path) -> None:
    """The log names the pipeline and the run, and says the workflow completed: a task
    failure it ignored (errorStrategy 'ignore') leaves the run completed."""
    log = _copy(LIFEBIT_LOG, tmp_path / "gwas-rpackages-nf" / ".nextflow.log")
    trace = tmp_path / "trace.txt"
    text = (TRACES / "lifebit_gwas__execution_trace.txt").read_text()
    trace.write_text(text.replace("\tCOMPLETED\t0\t", "\tFAILED\t1\t", 1))
    result = ingest_trace(trace, log=log)
    assert result.notes == []

    run = fl.Run.get(result.run_id)
    assert (run.reference, run.name, run.status) == (LIFEBIT_SESSION, "drunk_laplace",
                                                     "completed")
    assert run.transform.key == "nextflow:gwas-rpackages-nf/main.nf"
    assert run.cli_args == "nextflow run main.nf"
    assert run.finished_at is not None and run.finished_at.year == 2024
    assert run.features.get_values()["nextflow_version"] == "20.07.1"
    assert fl.Run.filter(initiated_by_run_id=run.id, status="errored").count() == 1

    before = (fl.Run.filter().count(), fl.Transform.filter().count())
    ingest_log(log)  # the same session: the same run, nothing new
    ingest_trace(trace, log=log)
    assert (fl.Run.filter().count(), fl.Transform.filter().count()) == before
    assert fl.Run.get(run.id).status == "completed"


def test_bare_traces_share_their_folder_pipeline(instance: Instance, tmp_path: Path) -> None:
    info = tmp_path / "gwas-project" / "results" / "pipeline_info"
    newer = _copy(TRACES / "lifebit_gwas__execution_trace.txt", info / "trace.txt")
    older = _copy(TRACES / "nextflow4ms_dial__execution_trace.txt", info / "trace.txt.1")
    first, second = ingest_trace(newer), ingest_trace(older)
    assert first.run_id != second.run_id
    assert {fl.Run.get(r.run_id).transform.key for r in (first, second)} == {
        "nextflow:gwas-project"}
    assert "--pipeline" in first.notes[0] and "'gwas-project'" in first.notes[0]

    # the same file again under another name and folder: the same run and transform
    transforms = fl.Transform.filter().count()
    again = ingest_trace(_copy(newer, tmp_path / "elsewhere" / "copy.tsv"))
    assert again.workflow_runs == first.workflow_runs and again.notes == []
    assert fl.Transform.filter().count() == transforms
    assert fl.Run.get(first.run_id).transform.key == "nextflow:gwas-project"


def test_log_alone_then_finishes_a_lineage_run(instance: Instance, tmp_path: Path) -> None:
    failed = ingest_log(_copy(FAILED_LOG, tmp_path / "x" / ".nextflow.log"))
    run = fl.Run.get(failed.run_id)
    assert (run.reference, run.status, run.transform.key) == (
        "4dfa2b8b-c441-4a44-bf2f-e1469750fe06", "errored", "nextflow:Two_Step_Imputation/main.nf")
    assert (run.description or "").startswith("No signature of method")

    # a lineage store whose run has no WorkflowOutput yet (still running when copied) ...
    tree = build_lineage_store(tmp_path / "store")
    (tree.store / f"{RUN}#output" / ".data.json").unlink()
    store_run = fl.Run.get(ingest_lineage(tree.store).run_id)
    assert store_run.status == "started"
    # ... is finished by its log (same session), and re-ingesting the store keeps that
    log = tmp_path / "y" / ".nextflow.log"
    _copy(LIFEBIT_LOG, log)
    session = store_run.features.get_values()["session_id"]
    log.write_text(log.read_text().replace(LIFEBIT_SESSION, session))
    assert ingest_log(log).workflow_runs == {f"lid://{RUN}": store_run.id}
    ingest_lineage(tree.store)
    assert fl.Run.get(store_run.id).status == "completed"


def test_workflow_outputs_and_collections(instance: Instance, tmp_path: Path) -> None:
    tree = build_lineage_store(tmp_path)
    result = ingest_lineage(tree.store)
    assert result.collections == 1
    workflow = fl.Run.get(result.run_id)
    # the published report and samples.json: bytes its MULTIQC task made first
    multiqc = fl.Run.get(reference=f"lid://{TASK}", reference_type="nextflow_task")
    recreated = workflow.recreated_artifacts.all()
    assert sorted(a.key or "" for a in recreated)[-1] == "rnaseq/samples.json"
    assert len(recreated) == 2 and {a.run_id for a in recreated} == {multiqc.id}
    samples = fl.Collection.get(key="nextflow-io/hello/samples")
    assert samples.run_id == workflow.id
    assert [a.key for a in samples.ordered_artifacts.all()] == ["rnaseq/samples.json"]
    counts = (fl.Collection.filter().count(), fl.Artifact.filter().count())
    ingest_lineage(tree.store)
    assert (fl.Collection.filter().count(), fl.Artifact.filter().count()) == counts


@pytest.mark.parametrize(("text", "line", "field"), [
    ("hello\n", 1, None),
    ("Oct-31 00:20:39.568 [main] DEBUG nextflow.cli.Launcher - $> nextflow run main.nf\n",
     None, "Session uuid"),
    ("Oct-31 00:20:39.568 [main] DEBUG nextflow.cli.Launcher - $> nextflow run x\n"
     "Feb-30 00:20:46.934 [main] DEBUG nextflow.Session - Session uuid: "
     f"{LIFEBIT_SESSION}\n", 2, "time"),
])
def test_malformed_log_writes_nothing(instance: Instance, tmp_path: Path, text: str,
                                      line: int | None, field: str | None) -> None:
    bad = tmp_path / ".nextflow.log"
    bad.write_text(text)
    with pytest.raises(IngestionError) as caught:
        ingest_log(bad)
    assert (caught.value.source, caught.value.line, caught.value.field) == (str(bad), line,
                                                                            field)
    with pytest.raises(IngestionError):
        ingest_trace(TRACES / "lifebit_gwas__execution_trace.txt", log=bad)
    assert fl.Run.filter().count() == 0 and fl.Transform.filter().count() == 0

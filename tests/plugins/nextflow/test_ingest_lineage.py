"""Lineage-store ingestion: a synthetic ``.lineage`` tree built from the fixture records of all
three generations, with real files for some outputs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import flowlineage as fl
import pytest
from flowlineage.db.engine import Instance
from flowlineage.errors import IngestionError
from flowlineage_nextflow.ingest_lineage import ingest_lineage

from .nf_helpers import FASTQC, QUANT, RUN, SESSION, TASK, build_lineage_store, counts


def test_store_maps_to_runs_artifacts_and_inputs(instance: Instance, tmp_path: Path) -> None:
    tree = build_lineage_store(tmp_path)
    result = ingest_lineage(tree.store)
    assert result.workflow_runs == {f"lid://{RUN}": result.run_id}
    assert result.task_runs == 3 and result.status_counts == {"completed": 3}
    assert result.skipped == []

    workflow = fl.Run.get(result.run_id)
    assert (workflow.reference_type, workflow.name, workflow.status) == (
        "nextflow_run", "test_run", "completed")  # its WorkflowOutput record exists
    assert workflow.started_at == datetime(2025, 5, 9, 18, 27, 10, tzinfo=UTC)  # .history
    assert workflow.finished_at == datetime(2025, 5, 9, 18, 27, 35, tzinfo=UTC)
    assert workflow.transform.key == "nextflow:nextflow-io/hello"
    assert workflow.features.get_values()["commit_id"] == (
        "2ce0b0e2943449188092a0e25102f0dadc70cb0a")
    assert workflow.params == {}

    multiqc = fl.Run.get(reference=f"lid://{TASK}", reference_type="nextflow_task")
    assert multiqc.name == "MULTIQC" and multiqc.initiated_by_run_id == workflow.id
    assert multiqc.transform.key == "nextflow:nextflow-io/hello:MULTIQC"
    assert multiqc.features.get_values() == {
        "hash": "86/2df531", "session_id": SESSION,
        "code_checksum": "edf2e9f84cd3a18ee9259012b660f2dd",
        "conda": "file:///conda/env-4a436c230263dfdbbf4dddd0623505d1"}
    quant = fl.Run.get(reference=f"lid://{QUANT}")
    fastqc = fl.Run.get(reference=f"lid://{FASTQC}")
    assert quant.transform.key.endswith(":QUANT") and fastqc.name == "FASTQC (ggal_gut)"

    # files on disk carry our content hash; the published copy is the same artifact
    report = fl.Artifact.get(hash=fl.Artifact(tree.report).save().hash)
    assert report._hash_type == "blake3" and report.run_id == multiqc.id
    assert "nextflow checksum 03fd5ed150c7862e1fad5efd4f574a47" in (report.description or "")
    logs = fl.Artifact.get(run_id=fastqc.id)
    assert logs.key == f"{FASTQC[:2]}/{FASTQC[2:]}/fastqc_ggal_gut_logs"
    assert logs._key_is_virtual and logs.storage_id == instance.storage_id  # copied
    assert {s.root for s in fl.Storage.filter()} & {str(tree.work.resolve()),
                                                     str(tmp_path.resolve())} == set()
    # files not on disk: Nextflow's checksum, where they were
    for lid, checksum in tree.absent.items():
        absent = fl.Artifact.get(hash=checksum)
        assert absent._hash_type == "nextflow-nextflow" and lid in (absent.description or "")
    remote = fl.Artifact.get(hash=tree.absent[f"lid://{RUN}/samples.json"])
    assert fl.Storage.get(remote.storage_id).root == "s3://nf-results"
    assert remote.key == "rnaseq/samples.json" and remote.run_id == multiqc.id  # its source
    quant_out = fl.Artifact.get(hash=tree.absent[f"lid://{QUANT}/ggal_gut"])
    assert quant_out.run_id == quant.id
    assert fl.Storage.get(quant_out.storage_id).root == tree.work.resolve().as_uri()

    inputs = {a.id for a in multiqc.input_artifacts.all()}
    config = fl.Artifact.get(key__endswith="/multiqc", _hash_type="nextflow-nextflow")
    assert fl.Storage.get(config.storage_id).root == "https://github.com"
    assert inputs == {logs.id, quant_out.id, config.id}
    reads = fl.Artifact.get(key="ggal_gut_1.fq")
    assert reads.run_id is None
    assert {a.id for a in quant.input_artifacts.all()} == {reads.id}
    assert {a.id for a in fastqc.input_artifacts.all()} == {reads.id}
    assert result.input_links == 5

    lineage = report.upstream()
    assert {r.id for r, _ in lineage.runs} == {multiqc.id, workflow.id, quant.id, fastqc.id}
    assert {a.id for a, _ in lineage.artifacts} == {logs.id, quant_out.id, config.id, reads.id}


def test_reingesting_a_store_adds_nothing(any_instance: Instance, tmp_path: Path) -> None:
    tree = build_lineage_store(tmp_path)
    ingest_lineage(tree.store)
    before = counts()
    assert before[:3] == (4, 4, 6)  # the published report is the task's report
    ingest_lineage(tree.store)
    assert counts() == before


def test_artifacts_saved_before_match_the_store(instance: Instance, tmp_path: Path) -> None:
    """A file saved with fl.Artifact (by any orchestrator) is the same record afterwards."""
    tree = build_lineage_store(tmp_path)
    with fl.track(transform="downstream-analysis") as mine:
        before = fl.Artifact(tree.fastqc_logs, description="my copy").save()
    result = ingest_lineage(tree.store)
    logs = fl.Artifact.get(before.id)
    assert logs.run_id == mine.id and logs.description == "my copy"
    fastqc = fl.Run.get(reference=f"lid://{FASTQC}")
    assert [r.id for r in logs.recreating_runs.all()] == [fastqc.id]
    assert logs.id in {a.id for a in fl.Run.get(reference=f"lid://{TASK}").input_artifacts}
    assert result.artifacts == 5


def test_store_without_workflow_output_or_workflow_record(instance: Instance,
                                                          tmp_path: Path) -> None:
    tree = build_lineage_store(tmp_path)
    (tree.store / f"{RUN}#output" / ".data.json").unlink()
    (tree.store / RUN / ".data.json").unlink()
    result = ingest_lineage(tree.store, pipeline="rnaseq-nf")
    workflow = fl.Run.get(result.run_id)
    assert workflow.status == "started"  # nothing says the run ended
    assert workflow.name == "friendly_pesquet"  # from .history
    assert workflow.transform.key == "nextflow:rnaseq-nf"
    assert fl.Run.get(reference=f"lid://{TASK}").transform.key == "nextflow:rnaseq-nf:MULTIQC"


def test_unknown_inputs_and_unsupported_records_are_reported(instance: Instance,
                                                            tmp_path: Path) -> None:
    tree = build_lineage_store(tmp_path)
    record = tree.store / TASK / ".data.json"
    data = json.loads(record.read_text())
    data["spec"]["input"][0]["value"].append("lid://ffffffffffffffffffffffffffffffff/gone.txt")
    record.write_text(json.dumps(data))
    agent = tree.store / "0123456789abcdef0123456789abcdef" / ".data.json"
    agent.parent.mkdir()
    agent.write_text(json.dumps({"version": "lineage/v1beta1", "kind": "AgentRun",
                                 "spec": {}}))
    result = ingest_lineage(tree.store)
    assert any("gone.txt" in s for s in result.skipped)
    assert any("AgentRun" in s for s in result.skipped)
    assert result.input_links == 5


@pytest.mark.parametrize(("damage", "field"), [
    (lambda d: d["spec"].pop("workflowRun"), "spec.workflowRun"),
    (lambda d: d["spec"].update(size="large"), "spec.size"),
], ids=["missing field", "wrong type"])
def test_malformed_store_fails_cleanly_and_writes_nothing(
        instance: Instance, tmp_path: Path, damage: object, field: str) -> None:
    tree = build_lineage_store(tmp_path)
    record = tree.store / TASK / "multiqc_report.html" / ".data.json"
    data = json.loads(record.read_text())
    assert callable(damage)
    damage(data)
    record.write_text(json.dumps(data))
    with pytest.raises(IngestionError) as info:
        ingest_lineage(tree.store)
    assert info.value.source == str(record) and info.value.field == field
    assert counts() == (0, 0, 0, 0, 0)


def test_crafted_record_outside_the_pipeline_folder_is_not_read(
        instance: Instance, tmp_path: Path) -> None:
    tree = build_lineage_store(tmp_path / "launch")
    record = tree.store / TASK / "multiqc_report.html" / ".data.json"
    data = json.loads(record.read_text())
    data["spec"]["path"] = "/etc/passwd"
    data["spec"].pop("checksum", None)
    record.write_text(json.dumps(data))
    result = ingest_lineage(tree.store)
    assert any("/etc/passwd is outside the pipeline folder" in s for s in result.skipped)
    roots = {s.root for s in fl.Storage.filter()}
    assert {r for r in roots if "://" not in r} == {instance.storage_root}  # no local root
    assert not any("/etc" in r for r in roots)
    assert not fl.Artifact.filter(key="passwd").exists()
    assert not fl.Artifact.filter(description__contains="/etc").exists()

"""The adapter contract for Nextflow: trace files of real runs ingested with task work dirs."""

from __future__ import annotations

from pathlib import Path

import flowlineage as fl
from adapter_contract import AdapterContractSuite, Malformed
from flowlineage_nextflow.ingest_trace import ingest_trace
from flowlineage_nextflow.trace import parse_trace

from .nf_helpers import TRACES, build_work_dir

SAMPLE = TRACES / "lifebit_gwas__execution_trace.txt"  # four COMPLETED tasks
MIXED = TRACES / "openebench_gmi__trace_cached_failed_aborted.txt"  # CACHED, FAILED, ABORTED


class TestNextflowContract(AdapterContractSuite):
    top_reference_type = "nextflow_run"
    child_reference_types = ("nextflow_task",)
    statuses = {"COMPLETED": "completed", "FAILED": "errored", "ABORTED": "aborted",
                "CACHED": "completed"}

    def record_sample(self, tmp_path: Path) -> None:
        space = build_work_dir(tmp_path, list(parse_trace(SAMPLE).rows))
        ingest_trace(SAMPLE, run_id="sample", workdir=space.work)

    def record_again(self, tmp_path: Path) -> None:
        ingest_trace(SAMPLE, run_id="sample", workdir=tmp_path / "work")

    def record_statuses(self, tmp_path: Path) -> dict[str, int]:
        recorded = {}
        for path, run_id in ((SAMPLE, "done"), (MIXED, "mixed")):
            ingest_trace(path, run_id=run_id)
            for row in parse_trace(path).rows:
                recorded[str(row.status)] = fl.Run.get(reference=f"{run_id}:{row.hash}").id
        return recorded

    def malformed_input(self, tmp_path: Path) -> Malformed:
        tmp_path.mkdir()
        path = tmp_path / "trace.txt"
        path.write_text(SAMPLE.read_text().replace("13.4s", "13 parsecs"))
        return Malformed(lambda: ingest_trace(path), str(path), 2, "duration")

"""The adapter contract for Snakemake: real workflows run by ``snakemake --logger flowlineage``."""

from __future__ import annotations

from pathlib import Path

import flowlineage as fl
import pytest
from adapter_contract import AdapterContractSuite

from .smk_helpers import Runner, write_workflow

FAILING = (
    'rule all:\n    input: "ok.txt", "after_bad.txt"\n'
    'rule ok:\n    output: "ok.txt"\n    shell: "echo ok > {output}"\n'
    'rule bad:\n    output: "bad.txt"\n    shell: "exit 3"\n'
    'rule after_bad:\n    input: "bad.txt"\n    output: "after_bad.txt"\n'
    '    shell: "cp {input} {output}"\n'
)


class TestSnakemakeContract(AdapterContractSuite):
    top_reference_type = "snakemake_workflow"
    child_reference_types = ("snakemake_job",)
    statuses = {"job_finished": "completed", "job_error": "errored"}
    runs_added_by_recording_again = 1
    runs_added_reason = (
        "every snakemake invocation is a run of its own, even one with nothing to do "
        "(test_reruns): a re-run adds that one invocation, without jobs, files or links")
    malformed_input_has_no_meaning = (
        "the adapter reads no input of its own: Snakemake parses and checks the Snakefile, "
        "config and --logger-flowlineage-* options before the logger sees an event, and "
        "hands it structured log records (one it cannot use is a warning, never an error: "
        "a logger must not break the workflow)")

    @pytest.fixture(autouse=True)
    def _runner(self, run_snakemake: Runner) -> None:
        self.run = run_snakemake

    def record_sample(self, tmp_path: Path) -> None:
        self.run(write_workflow(tmp_path / "wf", ["a", "b"]))

    def record_again(self, tmp_path: Path) -> None:
        self.run(tmp_path / "wf")

    def record_statuses(self, tmp_path: Path) -> dict[str, int]:
        workdir = tmp_path / "failing"
        workdir.mkdir()
        (workdir / "Snakefile").write_text(FAILING)
        assert self.run(workdir, "--keep-going", check=False).returncode == 1
        jobs = {r.name: r.id for r in fl.Run.filter(reference_type="snakemake_job").all()}
        return {"job_finished": jobs["ok"], "job_error": jobs["bad"]}

"""Fixtures of the Snakemake adapter tests: real workflows run by the real ``snakemake``."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .smk_helpers import SNAKEMAKE, Runner, write_workflow


@pytest.fixture
def workflow(tmp_path: Path) -> Path:
    """The five-rule workflow (wildcards, a fan-in) with samples a, b and c."""
    return write_workflow(tmp_path / "wf", ["a", "b", "c"])


@pytest.fixture
def run_snakemake(fl_home: Path) -> Runner:
    """Run ``snakemake --logger flowlineage`` in a workflow directory (FLOWLINEAGE_HOME set)."""

    def run(workdir: Path, *args: str, cores: int = 1,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(SNAKEMAKE), "--logger=flowlineage", "--cores", str(cores), "--nocolor", *args]
        proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True,
                              env=os.environ.copy(), timeout=300)
        if check and proc.returncode != 0:
            raise AssertionError(f"snakemake failed ({proc.returncode}):\n{proc.stderr}")
        assert "flowlineage: could not" not in proc.stderr, proc.stderr
        return proc

    return run

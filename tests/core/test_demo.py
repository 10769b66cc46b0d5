"""`flowlineage demo`: one lineage across Snakemake, Nextflow, a script and Prefect."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_crosses_every_orchestrator(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLOWLINEAGE_")}
    cli = str(Path(sys.executable).parent / "flowlineage")
    proc = subprocess.run([cli, "demo", "--home", str(tmp_path / "home")], capture_output=True,
                          text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    out = proc.stdout
    assert "run snakemake:Snakefile:clean  [snakemake" in out
    assert "run nextflow:main.nf:QUANT  [nextflow" in out
    assert "prefect:__main__.summarize  [prefect" in out
    assert "run merge.py  [python" in out
    assert "orchestrators in this lineage: nextflow, prefect, python, snakemake" in out
    html = (tmp_path / "home" / "lineage.html").read_text()
    assert "<svg" in html and "snakemake:Snakefile:clean" in html

"""`flowlineage demo`: one lineage across Snakemake, Nextflow, a script and Prefect."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import flowlineage.cli.demo
import pytest
from flowlineage.cli.app import build_app
from typer.testing import CliRunner


@pytest.mark.slow
def test_demo_crosses_every_orchestrator(tmp_path: Path) -> None:
    """Started from a folder with FLOWLINEAGE_HOME and PREFECT_HOME set, as a user would."""
    home, prefect_home, cwd = tmp_path / "home", tmp_path / "prefect-home", tmp_path / "here"
    cwd.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWLINEAGE_", "PREFECT_"))}
    env |= {"FLOWLINEAGE_HOME": str(home), "PREFECT_HOME": str(prefect_home)}
    cli = str(Path(sys.executable).parent / "flowlineage")
    proc = subprocess.run([cli, "demo"], capture_output=True, cwd=cwd, text=True, timeout=600,
                          env=env)
    assert proc.returncode == 0, proc.stderr + proc.stdout
    out = proc.stdout
    assert "run snakemake:Snakefile:clean  [snakemake" in out
    assert "run nextflow:main.nf:QUANT  [nextflow" in out
    assert "prefect:__main__.summarize  [prefect" in out
    assert "run merge.py  [python" in out
    assert "orchestrators in this lineage: nextflow, prefect, python, snakemake" in out
    html = (cwd / "lineage.html").read_text()  # left in the folder it was started from
    assert 'id="fl-graph-data"' in html and "snakemake:Snakefile:clean" in html
    assert sorted(p.name for p in cwd.iterdir()) == ["lineage.html"]
    assert (home / "lineage.db").is_file() and not (home / "lineage.html").exists()
    assert any(prefect_home.iterdir()) and not (home / "prefect").exists()

    # the paths it wrote and the commands to explore them
    assert f"  {cwd / 'lineage.html'}  (open it in a browser)" in out
    assert f"  {home}  (the lineage store: FLOWLINEAGE_HOME)" in out
    assert "export FLOWLINEAGE_HOME" not in out  # already set
    commands = out[out.index("explore:"):].splitlines()[1:]
    assert [c.split()[:2] for c in commands] == [
        ["flowlineage", "lineage"], ["flowlineage", "lineage"], ["flowlineage", "runs"],
        ["flowlineage", "ui"]]
    shown = subprocess.run([cli, *commands[0].split()[1:]], capture_output=True, cwd=cwd,
                           text=True, timeout=120, env=env)
    assert shown.returncode == 0, shown.stderr
    assert "run merge.py  [python" in shown.stdout
    assert shown.stdout.strip() in out  # the same tree as the demo printed
    listed = subprocess.run([cli, "runs", "list", "--reference-type", "nextflow_run", "--json"],
                            capture_output=True, cwd=cwd, text=True, timeout=120, env=env)
    assert [r["status"] for r in json.loads(listed.stdout)] == ["completed"]


def test_demo_without_a_home_prints_where_its_store_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowlineage.cli.demo import _explore

    monkeypatch.delenv("FLOWLINEAGE_HOME", raising=False)
    text = _explore(tmp_path / "h", tmp_path / "h" / "demo-project", tmp_path / "lineage.html",
                    "abc")
    assert f"explore:\n  export FLOWLINEAGE_HOME={tmp_path / 'h'}\n" in text
    assert "  flowlineage lineage abc\n" in text


@pytest.mark.parametrize("args, env_home, want_home, want_out", [
    ([], "fromenv", "fromenv", None),
    (["--home", "opt", "--out", "site"], "fromenv", "opt", "site"),
    ([], None, "tmp", None),
])
def test_demo_options_pick_home_and_out(
    args: list[str], env_home: str | None, want_home: str, want_out: str | None,
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[Path, Path | None]] = []
    monkeypatch.setattr(flowlineage.cli.demo, "run_demo",
                        lambda home, out=None: calls.append((home, out)))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    monkeypatch.chdir(tmp_path)
    if env_home is None:
        monkeypatch.delenv("FLOWLINEAGE_HOME", raising=False)
    else:
        monkeypatch.setenv("FLOWLINEAGE_HOME", str(tmp_path / env_home))
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    result = CliRunner().invoke(build_app(), ["demo", *args])
    assert result.exit_code == 0, result.output
    [(home, out)] = calls
    if want_home == "tmp":
        assert home.parent == tmp_path / "tmp" and home.name.startswith("flowlineage-demo-")
    else:
        assert home.resolve() == (tmp_path / want_home).resolve()
    assert out == (None if want_out is None else Path(want_out))

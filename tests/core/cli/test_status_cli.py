"""``flowlineage status`` (git status for data), ``check`` and ``lineage PATH``."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import flowlineage as fl
import pytest
from flowlineage.adapters import get_or_create_transform, upsert_runs
from flowlineage.cli.app import build_app
from flowlineage.db.engine import Instance
from typer.testing import CliRunner, Result

Cli = Callable[..., Result]


@pytest.fixture
def cli() -> Cli:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(build_app(), list(args), prog_name="flowlineage")

    return invoke


@pytest.fixture
def project(instance: Instance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with two files written by a Snakemake-like job run, as the current folder."""
    tf = get_or_create_transform("snakemake:Snakefile:count", type="rule")
    ids = upsert_runs([{"transform_id": tf.id, "reference_type": "snakemake_job",
                        "reference": "wf:1", "name": "count", "status": "completed"}])
    job = fl.Run.get(ids[("snakemake_job", "wf:1")])
    root = tmp_path / "project"
    (root / "results").mkdir(parents=True)
    for name, text in (("a.txt", "alpha\n"), ("b.txt", "beta\n")):
        (root / "results" / name).write_text(text)
        fl.Artifact(root / "results" / name, key=f"results/{name}", run=job).save()
    monkeypatch.chdir(root)
    return root


def test_status_is_clean_then_flags_edits_and_deletions(project: Path, cli: Cli) -> None:
    result = cli("status")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2 and all(line.startswith("unchanged") for line in lines)
    assert "results/a.txt" in lines[0] and "snakemake count" in lines[0]
    (project / "results" / "a.txt").write_text("edited by hand\n")
    (project / "results" / "b.txt").unlink()
    result = cli("status", "results")
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0].startswith("modified")
    assert result.stdout.splitlines()[1].startswith("missing")
    data = json.loads(cli("status", "--json", str(project / "results" / "a.txt")).stdout)
    assert [(d["state"], d["run"]["orchestrator"], d["run"]["name"]) for d in data] == [
        ("modified", "snakemake", "count")]


def test_status_of_a_folder_excludes_its_siblings(project: Path, cli: Cli) -> None:
    (project / "results2").mkdir()
    (project / "results2" / "c.txt").write_text("gamma\n")
    fl.Artifact(project / "results2" / "c.txt").save()
    result = cli("status", "results")
    assert result.exit_code == 0
    assert "results2" not in result.stdout and len(result.stdout.splitlines()) == 2


def test_status_of_a_missing_unrecorded_path_is_an_error(project: Path, cli: Cli) -> None:
    result = cli("status", "nothing/here")
    assert result.exit_code == 2
    assert "nothing/here" in result.stderr and "Traceback" not in result.output


def test_check_rehashes_and_lists_drift(project: Path, cli: Cli) -> None:
    assert cli("check").exit_code == 0
    path = project / "results" / "a.txt"
    stat = path.stat()
    path.write_text("ALPHA\n")  # same size, same mtime: only a re-hash sees it
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert cli("status").exit_code == 0
    result = cli("check", "--json")
    assert result.exit_code == 1
    assert [(Path(d["path"]).name, d["state"]) for d in json.loads(result.stdout)] == [
        ("a.txt", "modified")]


def test_lineage_takes_a_path_before_an_id(project: Path, cli: Cli) -> None:
    result = cli("lineage", "results/a.txt")
    assert result.exit_code == 0, result.output
    assert "created by: run snakemake:Snakefile:count" in result.stdout
    (project / "copy.txt").write_text("alpha\n")
    result = cli("lineage", "copy.txt")
    assert result.exit_code == 0 and "never recorded" in result.stderr
    result = cli("lineage", "unknown-thing")
    assert result.exit_code == 2 and "unknown-thing" in result.stderr

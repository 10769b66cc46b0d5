"""Prefect outputs by path: a task's returned Path resolves to that task run, with a key
relative to the flow's working directory."""

from __future__ import annotations

from pathlib import Path

import flowlineage as fl
import pytest
from flowlineage.db.engine import Instance
from flowlineage_prefect import FLOW_RUN, TASK_RUN, flow, task


@task
def write_table(name: str) -> Path:
    out = Path("results") / name
    out.parent.mkdir(exist_ok=True)
    out.write_text("a,b\n1,2\n")
    return out


@task
def count_rows(table: Path, folder: Path) -> Path:
    out = folder / "count.txt"
    out.write_text(f"{len(table.read_text().splitlines())}\n")
    return out


@flow
def tables_flow(folder: Path) -> Path:
    return count_rows(write_table("t.csv"), folder)


def test_a_returned_path_resolves_to_its_task_run(
        instance: Instance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    workdir = tmp_path / "flow"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    outside = tmp_path / "elsewhere" / "count.txt"
    outside.parent.mkdir()
    tables_flow(outside.parent)

    (flow_run,) = fl.Run.filter(reference_type=FLOW_RUN).all()
    tasks = {r.name.split("-")[0]: r for r in fl.Run.filter(reference_type=TASK_RUN).all()
             if r.name}
    table = fl.Artifact.get(path="results/t.csv")
    assert table.key == "results/t.csv" and table.run_id == tasks["write_table"].id
    (written,) = [loc for loc in table.locations if loc.path == str(workdir / "results/t.csv")]
    assert written.run is not None and written.run.id == tasks["write_table"].id
    assert written.run.initiated_by_run_id == flow_run.id

    count = fl.Artifact.get(path=outside)
    assert count.key == str(outside).lstrip("/")  # outside the flow's folder: never None
    assert count.run_id == tasks["count_rows"].id
    assert [loc.run_id for loc in count.locations if loc.path == str(outside)] == [
        tasks["count_rows"].id]

"""Lineage across a plain tracked script and Prefect runs, in-process and in subprocesses."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import flowlineage as fl
from flowlineage.db.engine import Instance
from flowlineage.storage.hashing import hash_file
from flowlineage_prefect import FLOW_RUN, TASK_RUN, child_env, flow, task
from prefect.runtime import task_run as runtime_task_run

MAKE_RAW = """\
import sys
from pathlib import Path

import flowlineage as fl

fl.track()
out = Path(sys.argv[1])
out.write_text("b\\na\\nc\\n")
fl.Artifact(out, key="raw/lines.txt").save()
fl.finish()
"""

REPORT = """\
import sys
from pathlib import Path

import flowlineage as fl

fl.track()
source = fl.Artifact.get(key=sys.argv[1]).cache()  # an input of this run
report = Path(sys.argv[2])
report.write_text(f"{len(source.read_text().splitlines())} lines\\n")
fl.Artifact(report, key="report.txt").save()
fl.finish()
"""


@task
def sort_lines(raw: Path, out_dir: Path, report_script: Path) -> Path:
    out = out_dir / "sorted.txt"
    out.write_text("".join(sorted(raw.read_text().splitlines(keepends=True))))
    fl.Artifact(out, key="sorted.txt").save()  # saved now: the report reads it
    subprocess.run(
        [sys.executable, str(report_script), "sorted.txt", str(out_dir / "report.txt")],
        env=child_env(), check=True,
    )
    return out  # returned too: the same artifact, not recreated


@flow
def sort_flow(raw: Path, out_dir: Path, report_script: Path) -> Path:
    return sort_lines(raw, out_dir, report_script)


def test_upstream_crosses_script_and_flow(instance: Instance, tmp_path: Path) -> None:
    make_raw, report = tmp_path / "make_raw.py", tmp_path / "report.py"
    make_raw.write_text(MAKE_RAW)
    report.write_text(REPORT)
    raw = tmp_path / "raw.txt"
    env = child_env()
    assert "FLOWLINEAGE_PARENT_RUN" not in env  # no current run here
    assert env["FLOWLINEAGE_DB"] == instance.settings.db_url
    subprocess.run([sys.executable, str(make_raw), str(raw)], env=env, check=True)

    state = sort_flow(raw, tmp_path, report, return_state=True)
    sorted_path = state.result()
    assert sorted_path.read_text() == "a\nb\nc\n"

    script_run = fl.Run.get(transform__key="make_raw.py")
    flow_run = fl.Run.get(reference=str(state.state_details.flow_run_id),
                          reference_type=FLOW_RUN)
    (task_run,) = fl.Run.filter(reference_type=TASK_RUN).all()
    raw_art = fl.Artifact.get(key="raw/lines.txt")
    assert raw_art.run_id == script_run.id
    script_art = fl.Artifact.get(hash=hash_file(report)[0])  # a file parameter: an input too
    assert script_art.run_id is None
    assert {a.id for a in task_run.input_artifacts} == {raw_art.id, script_art.id}

    (sorted_art,) = task_run.output_artifacts.all()
    assert sorted_art.hash == hash_file(sorted_path)[0] and sorted_art.key == "sorted.txt"
    assert task_run.recreated_artifacts.count() == 0
    lineage = sorted_art.upstream()
    runs = {run.id: depth for run, depth in lineage.runs}
    assert runs == {task_run.id: 1, flow_run.id: 2, script_run.id: 3}
    assert {a.id for a, _ in lineage.artifacts} == {raw_art.id, script_art.id}

    report_run = fl.Run.get(transform__key="report.py")  # a subprocess of the task run
    assert report_run.initiated_by_run_id == task_run.id
    assert [a.id for a in report_run.input_artifacts] == [sorted_art.id]
    report_art = fl.Artifact.get(key="report.txt")
    report_runs = {run.id for run, _ in report_art.upstream().runs}
    assert report_runs == {report_run.id, task_run.id, flow_run.id, script_run.id}


@task
def after_step() -> str:
    return str(runtime_task_run.id)


@flow
def flow_with_tracked_code(out_dir: Path) -> tuple[str, str]:
    with fl.track(transform="inline-step", params={"n": 1}) as step:
        path = out_dir / "inline.txt"
        path.write_text("inline")
        fl.Artifact(path, key="inline.txt").save()
    return step.uid, after_step()


def test_flow_calling_tracked_code(instance: Instance, tmp_path: Path) -> None:
    state = flow_with_tracked_code(tmp_path, return_state=True)
    step_uid, task_id = state.result()
    flow_run = fl.Run.get(reference=str(state.state_details.flow_run_id),
                          reference_type=FLOW_RUN)
    step = fl.Run.get(step_uid)
    assert step.transform.key == "inline-step" and step.status == "completed"
    assert step.initiated_by_run_id == flow_run.id
    assert fl.Artifact.get(key="inline.txt").run_id == step.id
    # the task after the tracked block is still initiated by the flow's run
    task_run = fl.Run.get(reference=task_id, reference_type=TASK_RUN)
    assert task_run.initiated_by_run_id == flow_run.id
    assert {r.id for r in flow_run.initiated_runs} == {step.id, task_run.id}

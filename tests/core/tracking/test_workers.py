"""A run belongs to the process that started it: forked children and spawned workers save
into it without ending it. Real processes, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import flowlineage as fl
import pytest
from flowlineage.db.engine import Instance

FORK_PRELUDE = """\
import flowlineage as fl, os, sys
from pathlib import Path
fl.connect()
run = fl.track()
print(run.uid, flush=True)
def in_child(body):
    pid = os.fork()
    if pid == 0:
        body()
        sys.exit(0)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
"""


def _instance_env(inst: Instance) -> dict[str, str]:
    return {**os.environ, "FLOWLINEAGE_DB": inst.settings.db_url,
            "FLOWLINEAGE_STORAGE": inst.storage_root}


def _run_script(inst: Instance, tmp_path: Path, body: str) -> tuple[int, str, str]:
    script = tmp_path / "job.py"
    script.write_text(FORK_PRELUDE + body)
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=120, env=_instance_env(inst), cwd=tmp_path)
    return proc.returncode, proc.stdout, proc.stderr


def test_fork_child_exiting_0_leaves_the_failing_parent_run_errored(
        any_instance: Instance, tmp_path: Path) -> None:
    body = "assert in_child(lambda: None) == 0\nraise RuntimeError('parent fails')\n"
    code, out, err = _run_script(any_instance, tmp_path, body)
    assert code == 1 and "RuntimeError: parent fails" in err
    assert fl.Run.get(out.split()[0]).status == "errored"


@pytest.mark.parametrize(("child", "child_code"), [
    ("lambda: sys.exit(1)", 1),
    ("lambda: int('not a number')", 1),  # an unhandled exception: the child's excepthook
    ("lambda: os.kill(os.getpid(), signal.SIGTERM)", -signal.SIGTERM),
])
def test_fork_child_ending_badly_does_not_end_the_parent_run(
        any_instance: Instance, tmp_path: Path, child: str, child_code: int) -> None:
    body = (f"import signal\nassert in_child({child}) == {child_code}\n"
            "print(fl.Run.get(run.uid).status, flush=True)\n")
    code, out, err = _run_script(any_instance, tmp_path, body)
    assert code == 0, err
    uid, status_after_child = out.split()[:2]
    assert status_after_child == "started"
    assert fl.Run.get(uid).status == "completed"


def test_fork_child_saves_into_the_parent_run(any_instance: Instance, tmp_path: Path) -> None:
    body = """\
def save():
    Path('child.csv').write_text('a,b\\n1,2\\n')
    art = fl.Artifact('child.csv', key='forked/child.csv').save()
    fl.finish()  # the parent's run: not this child's to end
    print(art.uid, flush=True)
assert in_child(save) == 0
Path('parent.csv').write_text('a,b\\n3,4\\n')
fl.Artifact('parent.csv', key='forked/parent.csv').save()  # the parent's connection still works
print(fl.Run.get(run.uid).status, flush=True)
"""
    code, out, err = _run_script(any_instance, tmp_path, body)
    assert code == 0, err
    run_uid, artifact_uid, status_after_child = out.split()[:3]
    assert status_after_child == "started"
    run = fl.Run.get(run_uid)
    assert run.status == "completed"
    assert fl.Artifact.get(artifact_uid).run_id == run.id
    assert fl.Artifact.get(key="forked/parent.csv").run_id == run.id


def _save_in_worker(db_url: str, storage: str, folder: str, n: int) -> str:
    """Run in a spawned worker: connect, save one file, try to finish (a no-op here)."""
    fl.connect(db_url, storage=storage)
    path = Path(folder) / f"part{n}.txt"
    path.write_text(f"part {n}\n")
    uid = fl.Artifact(path, key=f"parts/part{n}.txt").save().uid
    assert fl.finish() is None  # the tracking process's run
    fl.disconnect()
    return uid


def test_spawned_workers_save_into_the_tracked_run(any_instance: Instance,
                                                   tmp_path: Path) -> None:
    run = fl.track(path=__file__)
    assert os.environ["FLOWLINEAGE_RUN"] == run.uid
    args = (any_instance.settings.db_url, any_instance.storage_root, str(tmp_path))
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        uids = list(pool.map(_save_in_worker, *zip(*[(*args, n) for n in range(3)],
                                                    strict=True)))
    code = ("import flowlineage as fl, sys; fl.connect(); "
            "print(fl.Artifact(sys.argv[1], key='parts/sub.txt').save().uid)")
    (tmp_path / "sub.txt").write_text("from a subprocess\n")
    proc = subprocess.run([sys.executable, "-c", code, str(tmp_path / "sub.txt")],
                          capture_output=True, text=True, timeout=120,
                          env=_instance_env(any_instance))
    assert proc.returncode == 0, proc.stderr
    uids.append(proc.stdout.strip())
    assert fl.Run.get(run.uid).status == "started"  # no worker ended it
    assert [fl.Artifact.get(uid).run_id for uid in uids] == [run.id] * 4
    fl.finish()
    assert "FLOWLINEAGE_RUN" not in os.environ
    assert fl.Run.get(run.uid).status == "completed"


def test_track_names_its_run_and_restores_the_inherited_name(
        any_instance: Instance, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWLINEAGE_RUN", "notInThisDb00000")  # from a parent elsewhere
    assert fl.get_current_run() is None
    run = fl.track(path=__file__)
    assert os.environ["FLOWLINEAGE_RUN"] == run.uid
    current = fl.get_current_run()
    assert current is not None and current.id == run.id
    fl.finish()
    assert os.environ["FLOWLINEAGE_RUN"] == "notInThisDb00000"

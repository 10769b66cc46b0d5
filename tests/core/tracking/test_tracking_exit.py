"""How a tracked script ends: real subprocesses, signals and exit codes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import flowlineage as fl
import pytest

PRELUDE = "import flowlineage as fl, sys, time, os\nfl.connect()\nrun = fl.track()\n" \
          "print(run.uid, flush=True)\n"


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "job.py"
    path.write_text(PRELUDE + body)
    return path


def _status(fl_home: Path, uid: str) -> str:
    fl.connect()
    try:
        return fl.Run.get(uid).status
    finally:
        fl.disconnect()


@pytest.mark.parametrize(
    ("body", "returncode", "status"),
    [
        ("", 0, "completed"),
        ("fl.finish()\n", 0, "completed"),
        ("raise ValueError('bad input')\n", 1, "errored"),
        ("sys.exit(3)\n", 3, "errored"),
        ("sys.exit(0)\n", 0, "completed"),
    ],
)
def test_exit_paths(fl_home: Path, tmp_path: Path, body: str, returncode: int,
                    status: str) -> None:
    proc = subprocess.run([sys.executable, str(_script(tmp_path, body))], capture_output=True,
                          text=True, timeout=60, env=os.environ.copy())
    assert proc.returncode == returncode, proc.stderr
    uid = proc.stdout.split()[0]
    assert _status(fl_home, uid) == status
    if "ValueError" in body:
        assert "ValueError: bad input" in proc.stderr  # the original traceback still shows


@pytest.mark.parametrize(("sig", "returncode"), [(signal.SIGTERM, -15), (signal.SIGINT, -2)])
def test_signals_abort_and_the_process_ends(fl_home: Path, tmp_path: Path, sig: int,
                                            returncode: int) -> None:
    script = _script(tmp_path, "time.sleep(60)\n")
    with subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=os.environ.copy()) as proc:
        assert proc.stdout is not None
        uid = proc.stdout.readline().split()[0]
        time.sleep(0.2)
        proc.send_signal(sig)
        rc = proc.wait(timeout=30)
    # ends as it would without flowlineage: killed by SIGTERM (shell: 143), or Python's
    # KeyboardInterrupt and then death by SIGINT (shell: 130)
    assert rc == returncode
    assert _status(fl_home, uid) == "aborted"


def test_sigkill_leaves_started_run(fl_home: Path, tmp_path: Path) -> None:
    script = _script(tmp_path, "time.sleep(60)\n")
    with subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                          env=os.environ.copy()) as proc:
        assert proc.stdout is not None
        uid = proc.stdout.readline().split()[0]
        proc.kill()
        proc.wait(timeout=30)
    assert _status(fl_home, uid) == "started"  # the reaper's job (runs reap)


def test_heartbeat_and_reaper(fl_home: Path, tmp_path: Path) -> None:
    env = os.environ | {"FLOWLINEAGE_HEARTBEAT_SECONDS": "0.2"}
    script = _script(tmp_path, "time.sleep(60)\n")
    alive = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                             env=env)
    dead = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True,
                            env=env)
    with alive, dead:
        assert alive.stdout is not None and dead.stdout is not None
        alive_uid = alive.stdout.readline().split()[0]
        dead_uid = dead.stdout.readline().split()[0]
        fl.connect()
        try:
            deadline = time.time() + 20
            while fl.Run.get(dead_uid).heartbeat_at is None and time.time() < deadline:
                time.sleep(0.1)
            assert fl.Run.get(dead_uid).heartbeat_at is not None
        finally:
            fl.disconnect()
        dead.kill()
        dead.wait(timeout=30)
        time.sleep(1.5)
        cli = str(Path(sys.executable).parent / "flowlineage")
        reap = subprocess.run([cli, "runs", "reap", "--older-than", "1s", "--json"],
                              capture_output=True, text=True, timeout=120, env=env)
        assert reap.returncode == 0, reap.stderr
        alive.terminate()
        alive.wait(timeout=30)
    assert _status(fl_home, dead_uid) == "aborted"
    assert dead_uid in reap.stdout and alive_uid not in reap.stdout
    assert _status(fl_home, alive_uid) == "aborted"  # by its own SIGTERM handler


@pytest.mark.parametrize(
    ("body", "returncode", "status"),
    [
        ("sys.exit(0)", 0, "completed"),
        ("sys.exit()", 0, "completed"),
        ("raise SystemExit(0)", 0, "completed"),
        ("raise SystemExit", 0, "completed"),
        ("sys.exit(False)", 0, "completed"),
        ("sys.exit(4)", 4, "errored"),
        ("sys.exit('bye')", 1, "errored"),
        ("raise KeyboardInterrupt", 130, "aborted"),
    ],
)
def test_exit_inside_a_tracked_block(fl_home: Path, tmp_path: Path, body: str,
                                     returncode: int, status: str) -> None:
    """``with fl.track(): sys.exit(0)`` ends the run as the process ends: 0 is completed."""
    script = tmp_path / "block.py"
    script.write_text("import flowlineage as fl, sys\nfl.connect()\n"
                      "with fl.track() as run:\n"
                      f"    print(run.uid, flush=True)\n    {body}\n")
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=60, env=os.environ.copy())
    assert proc.returncode in (returncode, -signal.SIGINT), proc.stderr
    assert _status(fl_home, proc.stdout.split()[0]) == status

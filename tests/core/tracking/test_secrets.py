"""Secrets are redacted before they are stored; the SQLite store is private to its user."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import flowlineage as fl
import pytest
from flowlineage.db.engine import Instance
from flowlineage.tracking.redact import redact_args, redact_command, redact_params

SCRIPT = """
import sys, flowlineage as fl
fl.connect()
with fl.track(params={"db_password": "hunter2", "nested": {"api_key": "k1", "n": 3},
                      "urls": ["postgresql://me:pw1@db/x"], "threads": 4}) as run:
    pass
print(run.id)
"""


def test_track_redacts_command_line_and_params(instance: Instance, tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(SCRIPT)
    args = ["--aws-secret-access-key", "AKIAXX", "--token=tok123", "--out", "res.csv",
            "--header", "Authorization: Bearer abc.def", "s3://u:pw2@host/b"]
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                          text=True, env=os.environ.copy(), timeout=120)
    assert done.returncode == 0, done.stderr
    run = fl.Run.get(int(done.stdout))
    for secret in ("AKIAXX", "tok123", "abc.def", "pw2"):
        assert secret not in (run.cli_args or "")
    assert "--out res.csv" in (run.cli_args or "")
    assert run.params == {"db_password": "***", "nested": {"api_key": "***", "n": 3},
                          "urls": ["postgresql://me:***@db/x"], "threads": 4}


@pytest.mark.parametrize(("given", "expected"), [
    (["--password", "x", "-v"], ["--password", "***", "-v"]),
    (["--db-passwd=x"], ["--db-passwd=***"]),
    (["private_key=x", "n=2"], ["private_key=***", "n=2"]),
    (["--credentials", "c", "--threads", "2"], ["--credentials", "***", "--threads", "2"]),
])
def test_redact_args(given: list[str], expected: list[str]) -> None:
    assert redact_args(given) == expected


def test_redact_command_and_extra_words(monkeypatch: pytest.MonkeyPatch) -> None:
    cmd = "curl -H 'Authorization: Basic dXNlcjpw' --pin 1234 https://a:b@host/x"
    assert redact_command(cmd) == (
        "curl -H 'Authorization: Basic ***' --pin 1234 'https://a:***@host/x'")
    monkeypatch.setenv("FLOWLINEAGE_SECRET_WORDS", "pin")
    assert "1234" not in redact_command(cmd)
    assert redact_params({"my_pin": 1}) == {"my_pin": "***"}


def test_sqlite_store_is_private(instance: Instance, fl_home: Path) -> None:
    fl.Artifact(str(Path(__file__)), key="t.py").save()
    database = Path(instance.engine.url.database or "")
    for path in (database, Path(f"{database}-wal"), Path(f"{database}-shm")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    assert stat.S_IMODE(database.parent.stat().st_mode) == 0o700

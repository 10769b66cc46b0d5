"""Faults: killed writers, a stopped S3 server, a restarted PostgreSQL server."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import fl_scenarios as sc
import flowlineage as fl
import pytest
from flowlineage.db.engine import Instance
from flowlineage.errors import StorageError
from servers import PostgresServer, S3Server, find_pg_bindir
from sqlalchemy import text

BATCH_WRITER = """
import sys, flowlineage as fl
from flowlineage.adapters import get_or_create_transform, upsert_runs
from flowlineage.errors import DatabaseError
fl.connect(sys.argv[1], storage=sys.argv[2])
tf = get_or_create_transform(key="batch-writer", type="script")
batch = int(sys.argv[3])
print("ready", flush=True)
i = 0
while True:
    try:
        upsert_runs([{"reference_type": "fault", "reference": f"{i}:{j}", "transform_id": tf.id,
                      "status": "completed"} for j in range(batch)])
    except DatabaseError as e:
        print("error", e, flush=True)
        sys.exit(3)
    i += 1
    print("batch", i, flush=True)
"""


def _writer(url: str, storage: str, batch: int) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", BATCH_WRITER, url, storage, str(batch)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=os.environ.copy())
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


def _fault_runs() -> int:
    return fl.Run.filter(reference_type="fault").count()


def test_sigkill_mid_transaction_leaves_whole_batches(any_instance: Instance) -> None:
    url = any_instance.engine.url.render_as_string(hide_password=False)
    batch = 2000
    for _ in range(3):
        with _writer(url, any_instance.storage_root, batch) as proc:
            assert proc.stdout is not None
            proc.stdout.readline()  # at least one batch committed
            time.sleep(0.05)
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        assert _fault_runs() % batch == 0  # never a partial transaction
    fl.disconnect()
    inst = fl.connect(url, storage=any_instance.storage_root)  # the next connect works
    assert _fault_runs() >= batch
    if inst.dialect == "sqlite":
        with inst.engine.connect() as conn:
            assert conn.execute(text("PRAGMA integrity_check")).scalar() == "ok"


def test_sigkill_during_bulk_saves_leaves_no_row_without_its_bytes(
    any_instance: Instance, tmp_path: Path
) -> None:
    figures = sc.killed_during_bulk_saves(any_instance, tmp_path, kills=2, per=50)
    assert figures.saves >= 50
    assert not figures.faults(), figures.line()  # gc took the killed writers' copies


def test_s3_stopped_mid_upload_then_retry(s3_instance: Instance, s3_server: S3Server,
                                          tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(8 * 2**20))
    s3_server.stop()
    try:
        with pytest.raises(StorageError, match="could not upload"):
            fl.Artifact(big, key="big.bin").save()
        assert fl.Artifact.filter(key="big.bin").count() == 0
    finally:
        s3_server.start()
    art = fl.Artifact(big, key="big.bin").save()
    assert fl.Artifact.get(key="big.bin").id == art.id
    with art.open() as f:
        assert f.read(16) == big.read_bytes()[:16]


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test's own, durable across restarts (crash_safe)."""
    if find_pg_bindir() is None:
        pytest.skip("PostgreSQL binaries not found")
    server = PostgresServer(crash_safe=True)
    server.start()
    yield server
    server.close()


def test_postgres_restart_under_a_running_writer(own_postgres: PostgresServer,
                                                 fl_home: Path) -> None:
    url = own_postgres.create_database("restart_test")
    storage = str(fl_home / "storage")
    batch = 500
    with _writer(url, storage, batch) as proc:
        assert proc.stdout is not None
        proc.stdout.readline()
        own_postgres.restart()
        time.sleep(1.0)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    lines = out.splitlines()
    errors = [line for line in lines if line.startswith("error")]
    if errors:  # a clear error, not a traceback from the driver
        assert "PostgreSQL at 127.0.0.1:" in errors[0] and proc.returncode == 3
    else:  # or it went on transparently after the restart
        assert proc.returncode == -signal.SIGTERM
    inst = fl.connect(url, storage=storage)
    try:
        assert _fault_runs() % batch == 0 and _fault_runs() >= batch
    finally:
        fl.disconnect()
        inst.close()

"""Concurrent writers in separate processes: no lost, duplicated or locked writes.

Many writers saving many files, one by one or in bulk, are the reliability suite's
(tests/reliability/) and test_races.py's; here, eight processes save the same bytes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import flowlineage as fl
from flowlineage.db.engine import Instance

SAME_BYTES = """
import sys, time, flowlineage as fl
fl.connect(sys.argv[1], storage=sys.argv[2])
start = float(sys.argv[4])
while time.time() < start:
    time.sleep(0.001)
with fl.track(transform="writer-" + sys.argv[5]) as run:
    art = fl.Artifact(sys.argv[3], key="shared.bin").save()
print(art.id, run.id)
"""


def _launch(script: str, args: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", script, *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=os.environ.copy())


def test_eight_processes_saving_identical_bytes(any_instance: Instance, tmp_path: Path) -> None:
    import time

    url = any_instance.engine.url.render_as_string(hide_password=False)
    data = tmp_path / "shared.bin"
    data.write_bytes(os.urandom(2**20))
    start = str(time.time() + 3)
    procs = [_launch(SAME_BYTES, [url, any_instance.storage_root, str(data), start, str(i)])
             for i in range(8)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        results.append(tuple(int(x) for x in out.split()))
    art_ids = {a for a, _ in results}
    assert len(art_ids) == 1
    art = fl.Artifact.get(art_ids.pop())
    run_ids = {r for _, r in results}
    linked = {art.run_id} | {r.id for r in art.recreating_runs}
    assert linked == run_ids and len(run_ids) == 8
    assert fl.Artifact.filter(key="shared.bin").count() == 1
    stored = list(Path(any_instance.storage_root, ".flowlineage").iterdir())
    assert len([p for p in stored if p.suffix == ".bin"]) == 1  # losers removed their copies

"""Reliability: 8 processes tracking runs and ingesting traces at once lose or duplicate nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import flowlineage as fl
from flowlineage.db.engine import Instance
from flowlineage_nextflow.trace import parse_trace

from .nf_helpers import TRACES

WORKER = """
import sys, time, flowlineage as fl
from flowlineage_nextflow.ingest_trace import ingest_trace
fl.connect(sys.argv[1], storage=sys.argv[2])
start = float(sys.argv[4])
while time.time() < start:
    time.sleep(0.001)
with fl.track(transform="ingester", params={"worker": int(sys.argv[5])}):
    ingest_trace(sys.argv[3], run_id="shared-run")            # the same trace in every worker
    ingest_trace(sys.argv[3], run_id=f"own-run-{sys.argv[5]}")  # and one of its own
print("done")
"""


def test_eight_processes_tracking_and_ingesting(any_instance: Instance) -> None:
    trace = TRACES / "openebench_gmi__trace.3.txt"
    tasks = len({row.hash for row in parse_trace(trace).rows})
    url = any_instance.engine.url.render_as_string(hide_password=False)
    start = str(time.time() + 3)
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, url, any_instance.storage_root,
                               str(trace), start, str(i)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, env=os.environ.copy())
             for i in range(8)]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        assert out.strip() == "done"
    assert fl.Run.filter(reference_type="nextflow_run").count() == 1 + 8
    assert fl.Run.filter(reference="shared-run").count() == 1
    assert fl.Run.filter(reference_type="nextflow_task").count() == tasks * 9
    assert fl.Run.filter(reference__startswith="shared-run:").count() == tasks
    trackers = fl.Run.filter(transform__key="ingester").all()
    assert sorted(r.params["worker"] for r in trackers) == list(range(8))  # type: ignore[index]
    assert all(r.status == "completed" for r in trackers)

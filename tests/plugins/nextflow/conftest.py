"""Fixtures of the Nextflow adapter tests: a weblog receiver over real HTTP, a stand-in
``nextflow`` executable on PATH."""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flowlineage.db.engine import Instance

from .nf_helpers import TOKEN, Receiver, free_port


def _serve(timeout: float | None = None, **limits: Any) -> Iterator[Receiver]:
    """The weblog receiver app served by uvicorn in a thread on a free 127.0.0.1 port, with
    the receiver's own uvicorn settings (``timeout`` and ``limits`` replace some)."""
    import uvicorn
    from flowlineage_nextflow.weblog_server import create_app, server_config

    port = free_port()
    app = create_app(token=TOKEN) if timeout is None else create_app(token=TOKEN,
                                                                      timeout=timeout)
    if timeout is not None:
        limits.setdefault("timeout_keep_alive", timeout)
    server = uvicorn.Server(server_config(app, "127.0.0.1", port, TOKEN, **limits))
    thread = threading.Thread(target=server.run, name="weblog-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "receiver did not start"
        time.sleep(0.02)
    base = f"http://127.0.0.1:{port}"
    yield Receiver(base, f"{base}/{TOKEN}", TOKEN)
    server.should_exit = True
    thread.join(30)
    assert not thread.is_alive()


@pytest.fixture
def weblog(instance: Instance) -> Iterator[Receiver]:
    """A receiver writing to the SQLite instance."""
    yield from _serve()


@pytest.fixture
def weblog_strict(instance: Instance) -> Iterator[Receiver]:
    """A receiver with a 1 s timeout and a cap of 20 connections."""
    yield from _serve(timeout=1.0, limit_concurrency=20)


@pytest.fixture
def weblog_any(any_instance: Instance) -> Iterator[Receiver]:
    """A receiver writing to SQLite, then to PostgreSQL."""
    yield from _serve()


STAND_IN = '''#!{python}
"""A stand-in for the nextflow launcher: plays back what a real run leaves behind.

Mode (env FAKE_NEXTFLOW_MODE): "run" copies $FAKE_NEXTFLOW_TEMPLATE (work/, .lineage/,
trace.txt) into the run directory while writing .nextflow.log lines as Nextflow 24.10 does;
"hang" starts a log and never ends; "crash" prints an error and exits 1 without a log.
"""
import json, os, shutil, sys, time
from datetime import datetime

mode = os.environ.get("FAKE_NEXTFLOW_MODE", "run")
args = sys.argv[1:]
if mode == "crash":
    print("ERROR ~ Unknown method invocation `foo`", file=sys.stderr)
    sys.exit(1)
template = os.environ["FAKE_NEXTFLOW_TEMPLATE"]
plan = json.load(open(os.path.join(template, "plan.json")))
log = open(".nextflow.log", "w", buffering=1)


def line(thread, level, logger, message):
    stamp = datetime.now().strftime("%b-%d %H:%M:%S.%f")[:-3]
    log.write(f"{{stamp}} [{{thread}}] {{level:<5}} {{logger}} - {{message}}\\n")


line("main", "DEBUG", "nextflow.cli.Launcher", "$> nextflow " + " ".join(args))
line("main", "INFO", "nextflow.cli.CmdRun", "N E X T F L O W  ~  version 24.10.5")
script = args[args.index("run") + 1]
line("main", "DEBUG", "nextflow.cli.CmdRun",
     f"Launching `{{script}}` [{{plan['run_name']}}] DSL2 - revision: 09ed3b8ebe")
line("main", "DEBUG", "nextflow.Session", f"Session UUID: {{plan['session']}}")
line("main", "DEBUG", "nextflow.Session", f"Run name: {{plan['run_name']}}")
if mode == "hang":
    time.sleep(3600)
for name in ("work", ".lineage"):
    if os.path.isdir(os.path.join(template, name)):
        shutil.copytree(os.path.join(template, name), name, symlinks=True)
for task in plan["tasks"]:
    time.sleep(plan.get("delay", 0))
    line("Task submitter", "INFO", "nextflow.Session",
         f"[{{task['hash']}}] Submitted process > {{task['name']}}")
    workdir = os.path.join(os.getcwd(), "work", task["dir"])
    line("Task monitor", "DEBUG", "n.processor.TaskPollingMonitor",
         f"Task completed > TaskHandler[id: {{task['id']}}; name: {{task['name']}}; "
         f"status: COMPLETED; exit: {{task['exit']}}; error: -; workDir: {{workdir}}]")
trace = args[args.index("-with-trace") + 1]
shutil.copy(os.path.join(template, "trace.txt"), trace)
line("main", "DEBUG", "nextflow.script.ScriptRunner", "> Execution complete -- Goodbye")
sys.exit(plan.get("exit", 0))
'''


@pytest.fixture
def fake_nextflow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str, Path], None]:
    """Put a stand-in ``nextflow`` on PATH; call it with a mode and a template directory."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    launcher = bin_dir / "nextflow"
    launcher.write_text(STAND_IN.format(python=sys.executable))
    launcher.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    def use(mode: str, template: Path) -> None:
        monkeypatch.setenv("FAKE_NEXTFLOW_MODE", mode)
        monkeypatch.setenv("FAKE_NEXTFLOW_TEMPLATE", str(template))

    return use

"""Special files and symlink loops given to ``flowlineage nextflow ...`` (issue 23 items 8, 9).

A FIFO, device or socket as a trace, log, lineage record or work-directory file, or a symlink
loop in a staged input folder, ends the console script at once with one ``Error:`` line
naming the file (exit 2) and nothing recorded. Each command runs as a real subprocess under
a timeout, so a blocking read fails the test instead of hanging it.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import flowlineage as fl
import pytest
from flowlineage_nextflow.trace import parse_trace

from .nf_helpers import FIXTURES, TRACES, Workspace, build_lineage_store, build_work_dir, counts

SCRIPT = Path(sys.executable).with_name("flowlineage")
TRACE = TRACES / "lifebit_gwas__execution_trace.txt"
LOG = FIXTURES / "log" / "lifebit_gwas__.nextflow.log"


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _workspace(tmp: Path) -> Workspace:
    return build_work_dir(tmp, list(parse_trace(TRACE).rows))


def _task_dir(space: Workspace, index: int) -> Path:
    """The work directory of the ``index``-th task (its first output's folder)."""
    return list(space.outputs.values())[index][0].parent


def _fifo_output(tmp: Path) -> tuple[list[str], Path]:
    space = _workspace(tmp)
    bad = _fifo(_task_dir(space, 1) / "results" / "stream.fifo")
    return ["ingest-trace", str(TRACE), "--workdir", str(space.work)], bad


def _device_input(tmp: Path) -> tuple[list[str], Path]:
    space = _workspace(tmp)
    bad = _task_dir(space, 2) / "zeros.bin"
    bad.symlink_to("/dev/zero")
    return ["ingest-trace", str(TRACE), "--workdir", str(space.work)], bad


def _loop_in_staged_folder(tmp: Path) -> tuple[list[str], Path]:
    """The last task stages its predecessor's ``results`` folder; a link inside that
    folder leads back to it."""
    space = _workspace(tmp)
    staged = _task_dir(space, -2) / "results"
    (staged / "again").symlink_to(staged, target_is_directory=True)
    return ["ingest-trace", str(TRACE), "--workdir", str(space.work)], staged


def _self_loop_link(tmp: Path) -> tuple[list[str], Path]:
    space = _workspace(tmp)
    bad = _task_dir(space, 0) / "loop.txt"
    bad.symlink_to(bad)
    return ["ingest-trace", str(TRACE), "--workdir", str(space.work)], bad


def _fifo_record(tmp: Path) -> tuple[list[str], Path]:
    tree = build_lineage_store(tmp)
    folder = tree.store / "0123456789abcdef0123456789abcdef"
    folder.mkdir()
    return ["ingest-lineage", str(tree.store)], _fifo(folder / ".data.json")


def _fifo_history(tmp: Path) -> tuple[list[str], Path]:
    tree = build_lineage_store(tmp)
    return ["ingest-lineage", str(tree.store)], _fifo(tree.store / ".history" / "feedface")


def _socket_trace(tmp: Path) -> tuple[list[str], Path]:
    path = tmp / "t.sock"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))
    return ["ingest-trace", str(path)], path


CASES: dict[str, Callable[[Path], tuple[list[str], Path]]] = {
    "fifo-trace": lambda tmp: (["ingest-trace", str(_fifo(tmp / "trace.txt"))], tmp / "trace.txt"),
    "dev-zero-trace": lambda tmp: (["ingest-trace", "/dev/zero"], Path("/dev/zero")),
    "socket-trace": _socket_trace,
    "fifo-log-option": lambda tmp: (["ingest-trace", str(TRACE), "--log",
                                     str(_fifo(tmp / ".nextflow.log"))], tmp / ".nextflow.log"),
    "fifo-log": lambda tmp: (["ingest-log", str(LOG), str(_fifo(tmp / "nf.log"))],
                             tmp / "nf.log"),
    "fifo-workdir": lambda tmp: (["ingest-trace", str(TRACE), "--workdir",
                                  str(_fifo(tmp / "work"))], tmp / "work"),
    "fifo-store": lambda tmp: (["ingest-lineage", str(_fifo(tmp / ".lineage"))],
                               tmp / ".lineage"),
    "dev-null-store": lambda tmp: (["ingest-lineage", "/dev/null"], Path("/dev/null")),
    "fifo-record": _fifo_record,
    "fifo-history": _fifo_history,
    "fifo-task-output": _fifo_output,
    "device-task-input": _device_input,
    "loop-in-staged-folder": _loop_in_staged_folder,
    "self-loop-link": _self_loop_link,
}


@pytest.fixture
def recorded(fl_home: Path) -> Iterator[Callable[[], tuple[int, ...]]]:
    """What the instance holds: runs, transforms, artifacts, features, links, stored files."""
    def snapshot() -> tuple[int, ...]:
        inst = fl.connect()
        try:
            stored = Path(inst.storage_root).rglob("*")
            return (*counts(), sum(1 for p in stored if p.is_file()))
        finally:
            fl.disconnect()
    yield snapshot


@pytest.mark.parametrize("case", CASES)
def test_refused_at_once_naming_the_file(
    case: str, tmp_path: Path, recorded: Callable[[], tuple[int, ...]]
) -> None:
    args, bad = CASES[case](tmp_path)
    before = recorded()
    done = subprocess.run([str(SCRIPT), "nextflow", *args], capture_output=True, text=True,
                          env=os.environ.copy(), stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("Error: "), done.stderr
    assert str(bad) in done.stderr
    assert any(word in done.stderr for word in ("FIFO", "device", "socket", "symlink loop"))
    assert "Traceback" not in done.stderr
    assert recorded() == before

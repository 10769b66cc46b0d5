"""``flowlineage nextflow ...`` through the core CLI (typer's CliRunner), and ``serve`` as a
real subprocess of the installed console script."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import flowlineage as fl
import httpx
import pytest
from flowlineage.cli.app import build_app
from flowlineage_nextflow.trace import parse_trace
from typer.testing import CliRunner, Result

from .nf_helpers import FIXTURES, RUN, TRACES, build_lineage_store, build_work_dir, free_port

SCRIPT = Path(sys.executable).with_name("flowlineage")


def cli(*args: str) -> Result:
    result = CliRunner().invoke(build_app(), list(args), prog_name="flowlineage")
    fl.disconnect()
    return result


def test_nextflow_commands_are_listed(fl_home: Path) -> None:
    result = cli("nextflow", "--help")
    assert result.exit_code == 0
    for command in ("ingest-trace", "ingest-log", "ingest-lineage", "serve"):
        assert command in result.stdout
    assert "--token" in cli("nextflow", "serve", "--help").stdout


def test_ingest_trace_command(fl_home: Path, tmp_path: Path) -> None:
    path = TRACES / "sars_cov2_assembly__trace_failed.txt"
    result = cli("nextflow", "ingest-trace", str(path), "--run-id", "s1", "--run-name",
                 "gloomy_curie", "--pipeline", "sars", "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["task_runs"] == 12 and summary["duplicate_lines"] == [10]
    assert summary["status_counts"] == {"errored": 9, "completed": 3}
    fl.connect()
    workflow = fl.Run.get(reference="s1")
    assert workflow.name == "gloomy_curie" and workflow.transform.key == "nextflow:sars"
    fl.disconnect()

    text = cli("nextflow", "ingest-trace", str(path), "--run-id", "s1")
    assert text.exit_code == 0
    assert "workflow run s1; 12 task runs (3 completed, 9 errored)" in text.stdout


def test_ingest_trace_with_a_work_directory(fl_home: Path, tmp_path: Path) -> None:
    path = TRACES / "lifebit_gwas__execution_trace.txt"
    space = build_work_dir(tmp_path, list(parse_trace(path).rows))
    result = cli("nextflow", "ingest-trace", str(path), "--workdir", str(space.work), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["artifacts"] == 8


def test_malformed_trace_is_a_one_line_user_error(fl_home: Path, tmp_path: Path) -> None:
    path = tmp_path / "trace.txt"
    path.write_text((TRACES / "lifebit_gwas__execution_trace.txt").read_text()
                    .replace("13.4s", "13 parsecs"))
    result = cli("nextflow", "ingest-trace", str(path))
    assert result.exit_code == 2
    assert result.stderr == (f"Error: {path}:2 field 'duration': not a valid duration: "
                             "'13 parsecs'\n")


def test_ingest_lineage_command(fl_home: Path, tmp_path: Path) -> None:
    tree = build_lineage_store(tmp_path)
    result = cli("nextflow", "ingest-lineage", str(tree.store), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["workflow_runs"].keys() == {f"lid://{RUN}"}
    assert (summary["task_runs"], summary["artifacts"], summary["input_links"]) == (3, 5, 5)
    missing = cli("nextflow", "ingest-lineage", str(tmp_path / "nope"))
    assert missing.exit_code == 2 and "no such file or directory" in missing.stderr


def test_serve_as_a_real_process(fl_home: Path) -> None:
    port = free_port()
    env = {**os.environ, "FLOWLINEAGE_WEBLOG_TOKEN": "tok"}
    server = subprocess.Popen([str(SCRIPT), "nextflow", "serve", "--port", str(port)],
                              env=env, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/")
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.1)
        event = {"runName": "brave_hopper", "runId": "sub-1", "event": "started",
                 "utcTime": "2024-05-01T10:00:00Z"}
        assert httpx.post(f"http://127.0.0.1:{port}/tok", json=event).status_code == 200
        assert httpx.post(f"http://127.0.0.1:{port}/", json=event).status_code == 401
    finally:
        server.send_signal(signal.SIGINT)
        _, stderr = server.communicate(timeout=60)
    assert server.returncode == 0, stderr
    assert f"http://127.0.0.1:{port}/<token>" in stderr
    fl.connect()
    assert fl.Run.get(reference="sub-1").name == "brave_hopper"
    fl.disconnect()


@pytest.mark.parametrize("command", ["ingest-trace", "ingest-lineage"])
def test_missing_argument_is_a_usage_error(fl_home: Path, command: str) -> None:
    result = cli("nextflow", command)
    assert result.exit_code == 2 and "Missing argument" in result.stderr


def test_the_plugin_loads_light() -> None:
    """Loading the hooks and registering the commands imports no nextflowpy or web server."""
    code = (
        "import sys, typer, flowlineage_nextflow.hooks as hooks\n"
        "hooks.flowlineage_register_commands(typer.Typer())\n"
        "print(hooks.flowlineage_adapters()['name'], sorted({m.split('.')[0] for m in "
        "sys.modules} & {'nextflow', 'starlette', 'uvicorn', 'sqlalchemy'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "nextflow []"


def test_info_lists_the_adapter(fl_home: Path) -> None:
    result = cli("info", "--json")
    assert result.exit_code == 0, result.output
    (adapter,) = [a for a in json.loads(result.stdout)["adapters"] if a["name"] == "nextflow"]
    assert adapter["reference_types"] == ["nextflow_run", "nextflow_task"]


def test_ingest_log_command_and_notes(fl_home: Path, tmp_path: Path) -> None:
    log = FIXTURES / "log" / "lifebit_gwas__.nextflow.log"
    result = cli("nextflow", "ingest-log", str(log), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["status_counts"] == {"completed": 1}

    bare = cli("nextflow", "ingest-trace", str(TRACES / "nextflow4ms_dial__execution_trace.txt"))
    assert bare.exit_code == 0
    assert "note: pipeline named 'nextflow' after the trace's folder" in bare.stderr

    bad = tmp_path / ".nextflow.log"
    bad.write_text("not a log\n")
    failed = cli("nextflow", "ingest-log", str(bad))
    assert failed.exit_code == 2 and "Traceback" not in failed.output
    assert f"{bad}:1" in failed.output and "not a Nextflow log" in failed.output

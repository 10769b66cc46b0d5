"""Bad invocations of the installed ``flowlineage`` script: each ends with one ``Error:`` line
naming the problem and what to do, exit code 2 and no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from servers import PostgresServer

SCRIPT = Path(sys.executable).with_name("flowlineage")
SECRET = "s3cretpw"


def _blocked(tmp: Path, *modules: str) -> str:
    """A folder that, first on PYTHONPATH, makes ``modules`` look not installed."""
    folder = tmp / "blocked"
    for name in modules:
        (folder / name).mkdir(parents=True)
        (folder / name / "__init__.py").write_text(
            f"raise ModuleNotFoundError(\"No module named '{name}'\", name={name!r})\n")
    return os.pathsep.join([str(folder), os.environ.get("PYTHONPATH", "")])


def _fail(tmp: Path, args: list[str], env: dict[str, str] | None = None) -> str:
    """Run the script; check the failure's shape and return its one error line."""
    full = {k: v for k, v in os.environ.items() if not k.startswith("FLOWLINEAGE_")}
    full |= {"FLOWLINEAGE_HOME": str(tmp / "home"), **(env or {})}
    proc = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=120,
                          env=full, stdin=subprocess.DEVNULL, cwd=tmp)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert "Traceback" not in output and SECRET not in output, output
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), proc.stderr
    return lines[0]


CASES: list[tuple[list[str], dict[str, str], list[str]]] = [  # args, env, fragments
    # the home folder and the database / storage folders
    (["runs", "list"], {"FLOWLINEAGE_HOME": "{tmp}/file"},
     ["FLOWLINEAGE_HOME {tmp}/file is not a folder", "File exists",
      "set FLOWLINEAGE_HOME to a writable folder"]),
    (["init"], {"FLOWLINEAGE_HOME": "{tmp}/file/home"},
     ["FLOWLINEAGE_HOME {tmp}/file/home", "Not a directory"]),
    (["info"], {"FLOWLINEAGE_HOME": "/proc/flowlineage-home"},
     ["FLOWLINEAGE_HOME /proc/flowlineage-home is not a folder flowlineage can write"]),
    (["--db", "sqlite:///{tmp}/file/lineage.db", "runs", "list"], {},
     ["the database folder {tmp}/file", "set FLOWLINEAGE_DB (or --db)"]),
    (["--storage", "{tmp}/file", "artifacts", "list"], {},
     ["the storage root {tmp}/file", "set FLOWLINEAGE_STORAGE (or --storage)"]),
    # databases
    (["--db", f"postgresql+psycopg://flow:{SECRET}@127.0.0.1:1/lineage", "runs", "list"], {},
     ["PostgreSQL at 127.0.0.1:1", "user 'flow'", "Connection refused",
      "check that the server runs"]),
    (["info"], {"FLOWLINEAGE_DB": f"postgresql://flow:{SECRET}@127.0.0.1:port/lineage"},
     ["invalid database URL 'postgresql://flow:***@127.0.0.1:port/lineage'"]),
    (["--db", "mysql://localhost/lineage", "init"], {},
     ["unsupported database 'mysql'", "postgresql+psycopg://"]),
    # storage roots
    (["--storage", "nosuchscheme://bucket/prefix", "init"], {},
     ["unknown storage scheme 'nosuchscheme'", "s3://bucket/prefix"]),
    (["info"], {"FLOWLINEAGE_STORAGE": "gopher://bucket"}, ["unknown storage scheme 'gopher'"]),
    # ports and hosts of the servers
    (["nextflow", "serve", "--port", "99999"], {},
     ["Invalid value for '--port'", "65535", "flowlineage nextflow serve --help"]),
    (["ui", "--port", "99999"], {}, ["port must be between 0 and 65535, not 99999"]),
    (["ui", "--host", "0.0.0.0"], {}, ["needs a token: pass --token"]),
    # missing extras
    (["demo"], {"PYTHONPATH": "prefect"}, ["pip install 'flowlineage[prefect]'"]),
    (["demo"], {"PYTHONPATH": "snakemake"}, ["pip install 'flowlineage[snakemake]'"]),
    (["--db", "postgresql://flow@127.0.0.1/lineage", "runs", "list"], {"PYTHONPATH": "psycopg"},
     ["psycopg is not installed: pip install 'flowlineage[postgres]'"]),
    # records and files that are not there, and bad values
    (["runs", "delete", "nope"], {}, ["no run matches 'nope'"]),
    (["artifacts", "restore", "nope"], {}, ["no artifact matches 'nope'"]),
    (["transforms", "show", "nope"], {}, ["no transform matches 'nope'"]),
    (["runs", "list", "--status", "finished"], {}, ["unknown run status 'finished'"]),
    (["search", "x", "--limit", "0"], {}, ["Invalid value for '--limit'"]),
    (["nextflow", "ingest-trace", "{tmp}/missing.txt"], {},
     ["{tmp}/missing.txt: cannot read trace file"]),
    (["nextflow", "ingest-trace", "{tmp}/file"], {}, ["{tmp}/file:1", "required column"]),
]


@pytest.mark.parametrize("args, env, fragments", CASES,
                         ids=[f"{i:02d}-{'-'.join(c[0])[:40]}" for i, c in enumerate(CASES)])
def test_bad_invocation_is_one_clear_line(
    tmp_path: Path, args: list[str], env: dict[str, str], fragments: list[str]
) -> None:
    (tmp_path / "file").write_text("not a folder\n")
    tmp = str(tmp_path)
    env = {k: _blocked(tmp_path, v) if k == "PYTHONPATH" else v.format(tmp=tmp)
           for k, v in env.items()}
    line = _fail(tmp_path, [a.format(tmp=tmp) for a in args], env)
    for fragment in fragments:
        assert fragment.format(tmp=tmp) in line, line


def test_wrong_database_on_a_running_postgres(
    tmp_path: Path, postgres_server: PostgresServer
) -> None:
    url = (f"postgresql+psycopg://postgres:{SECRET}@127.0.0.1:{postgres_server.port}"
           "/no_such_database")
    line = _fail(tmp_path, ["--db", url, "runs", "list"])
    assert f"PostgreSQL at 127.0.0.1:{postgres_server.port}" in line
    assert 'database "no_such_database" does not exist' in line


@pytest.mark.parametrize("command", [["ui"], ["nextflow", "serve"]])
def test_a_port_in_use_is_one_clear_line(tmp_path: Path, command: list[str]) -> None:
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        line = _fail(tmp_path, [*command, "--port", str(port)])
    assert line == f"Error: cannot listen on 127.0.0.1:{port}: Address already in use"

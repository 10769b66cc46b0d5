"""The ``flowlineage`` CLI: every command through typer's CliRunner, and each command group
once as a real subprocess of the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import flowlineage as fl
import pytest
import typer
from flowlineage import plugins
from flowlineage.adapters import get_or_create_transform, link_run_inputs, upsert_runs
from flowlineage.cli.app import COMMANDS, Commands, build_app, main
from flowlineage.db.engine import Instance
from flowlineage.errors import DoesNotExist
from flowlineage.hookspecs import hookimpl
from typer.testing import CliRunner, Result

SCRIPT = Path(sys.executable).with_name("flowlineage")
UID_A, UID_B = "AbCdEf0000000001", "AbCdEf0000000002"


def _file(tmp: Path, name: str, content: str) -> str:
    path = tmp / name
    path.write_text(content)
    return str(path)


@pytest.fixture
def data(instance: Instance, tmp_path: Path) -> dict[str, Any]:
    """Two Snakemake jobs of a workflow, a Prefect flow, three artifacts, one collection."""
    tmp = tmp_path / "files"
    tmp.mkdir()
    wf_tf = get_or_create_transform("snakemake:Snakefile", type="pipeline")
    job_tf = get_or_create_transform("snakemake:rule fetch", type="rule")
    flow_tf = get_or_create_transform("prefect:flows.etl", type="flow")
    wf = upsert_runs([dict(transform_id=wf_tf.id, reference_type="snakemake_workflow",
                           reference="wf", status="completed")])[("snakemake_workflow", "wf")]
    ids = upsert_runs([
        dict(uid=UID_A, transform_id=job_tf.id, reference_type="snakemake_job",
             reference="wf:1", status="completed", initiated_by_run_id=wf),
        dict(uid=UID_B, transform_id=job_tf.id, reference_type="snakemake_job",
             reference="wf:2", status="errored", initiated_by_run_id=wf),
        dict(transform_id=flow_tf.id, reference_type="prefect_flow_run", reference="p1",
             status="completed", params={"alpha": 0.5}),
    ])
    job1, job2 = fl.Run.get(UID_A), fl.Run.get(UID_B)
    flow = fl.Run.get(ids[("prefect_flow_run", "p1")])
    raw_v1 = fl.Artifact(_file(tmp, "raw1.csv", "a\n1\n"), key="raw/counts.csv", run=job1).save()
    raw_v2 = fl.Artifact(_file(tmp, "raw2.csv", "a\n2\n"), key="raw/counts.csv", run=job2).save()
    link_run_inputs([(flow.id, raw_v2.id)])
    clean = fl.Artifact(_file(tmp, "clean.csv", "clean"), key="clean/counts.csv", run=flow).save()
    col = fl.Collection([clean, raw_v2], key="samples", run=flow).save()
    return {"wf": fl.Run.get(wf), "job1": job1, "job2": job2, "flow": flow, "raw_v1": raw_v1,
            "raw_v2": raw_v2, "clean": clean, "collection": col}


@pytest.fixture
def cli() -> Callable[..., Result]:
    """Invoke the CLI in-process; returns the result (stdout, stderr, exit code)."""
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(build_app(), list(args), prog_name="flowlineage")

    return invoke


@pytest.fixture
def plugin() -> Iterator[Callable[[object, str], None]]:
    """Register plugin objects for one test (unregistered afterwards)."""
    registered: list[object] = []

    def register(obj: object, name: str) -> None:
        plugins.get_plugin_manager().register(obj, name=name)
        registered.append(obj)

    yield register
    for obj in registered:
        plugins.get_plugin_manager().unregister(obj)


@pytest.fixture
def no_plugins(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A plugin manager with no installed plugin loaded."""
    monkeypatch.setenv("FLOWLINEAGE_PLUGINS", "")
    plugins.reset()
    yield
    monkeypatch.delenv("FLOWLINEAGE_PLUGINS")
    plugins.reset()


def _json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _user_error(result: Result, *fragments: str) -> str:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


# ---------------------------------------------------------------- root commands


def test_help_lists_the_commands(cli: Callable[..., Result], fl_home: Path) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("init", "info", "runs", "artifacts", "collections", "lineage", "export",
                    "--db", "--storage", "--debug"):
        assert command in result.stdout
    bare = cli()
    assert bare.exit_code == 2 and "Usage" in bare.output
    assert "reap" in cli("runs", "--help").stdout


def test_init_creates_the_instance_where_asked(
    cli: Callable[..., Result], fl_home: Path, tmp_path: Path
) -> None:
    result = cli("init")
    assert result.exit_code == 0, result.output
    assert f"sqlite:///{fl_home / 'lineage.db'}" in result.stdout
    assert (fl_home / "lineage.db").exists()
    other = cli("--db", f"sqlite:///{tmp_path / 'other.db'}", "--storage",
                str(tmp_path / "store"), "init")
    assert other.exit_code == 0, other.output
    assert (tmp_path / "other.db").exists() and (tmp_path / "store").is_dir()
    assert str(tmp_path / "store") in other.stdout
    fl.disconnect()


def test_info_counts_records_and_lists_plugins(
    cli: Callable[..., Result], data: dict[str, Any], plugin: Callable[[object, str], None]
) -> None:
    class Adapter:
        @hookimpl
        def flowlineage_adapters(self) -> dict[str, Any]:
            return {"name": "test-adapter", "reference_types": ["test_run"]}

    plugin(Adapter(), "test-adapter")
    info = _json(cli("info", "--json"))
    assert info["runs"] == {"scheduled": 0, "restarted": 0, "started": 0, "completed": 3,
                            "errored": 1, "aborted": 0}
    assert info["artifacts"] == 3 and info["collections"] == 1 and info["transforms"] == 3
    assert info["dialect"] == "sqlite" and info["storage"] == fl.get_instance().storage_root
    assert "test-adapter" in info["plugins"]
    assert {"name": "test-adapter", "reference_types": ["test_run"]} in info["adapters"]
    text = cli("info").stdout
    assert "4 (3 completed, 1 errored)" in text and "test-adapter" in text


# ---------------------------------------------------------------- runs


def test_runs_list_filters(cli: Callable[..., Result], data: dict[str, Any]) -> None:
    table = cli("runs", "list")
    assert table.exit_code == 0
    assert UID_A in table.stdout and "prefect:flows.etl" in table.stdout
    rows = _json(cli("runs", "list", "--json"))
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), reverse=True)
    assert len(rows) == 4 and rows[0]["transform"] == "prefect:flows.etl"
    errored = _json(cli("runs", "list", "--status", "errored", "--json"))
    assert [r["uid"] for r in errored] == [UID_B]
    both = _json(cli("runs", "list", "--status", "errored", "--status", "completed", "--json"))
    assert len(both) == 4
    jobs = _json(cli("runs", "list", "--reference-type", "snakemake_job", "--json"))
    assert {r["uid"] for r in jobs} == {UID_A, UID_B}
    snakemake = _json(cli("runs", "list", "--key", "snakemake:*", "--json"))
    assert len(snakemake) == 3
    exact = _json(cli("runs", "list", "--key", "snakemake:Snakefile", "--json"))
    assert [r["reference"] for r in exact] == ["wf"]
    assert len(_json(cli("runs", "list", "--limit", "2", "--json"))) == 2
    _user_error(cli("runs", "list", "--status", "done"), "unknown run status 'done'")
    _user_error(cli("runs", "list", "--limit", "0"), "--limit")


def test_runs_show_resolves_ids(cli: Callable[..., Result], data: dict[str, Any]) -> None:
    flow = data["flow"]
    shown = _json(cli("runs", "show", flow.uid[:6], "--json"))
    assert shown["uid"] == flow.uid and shown["status"] == "completed"
    assert shown["transform"]["key"] == "prefect:flows.etl"
    assert shown["params"] == {"alpha": 0.5}
    assert [a["uid"] for a in shown["inputs"]] == [data["raw_v2"].uid]
    assert [a["key"] for a in shown["outputs"]] == ["clean/counts.csv"]
    by_id = _json(cli("runs", "show", str(data["job2"].id), "--json"))
    assert by_id["uid"] == UID_B and by_id["initiated_by"]["transform"] == "snakemake:Snakefile"
    text = cli("runs", "show", UID_B).stdout
    assert f"Run {UID_B}" in text and "errored" in text and "raw/counts.csv" in text
    assert "snakemake:rule fetch (rule," in text and "initiated by" in text
    line = _user_error(cli("runs", "show", "AbCd"), "'AbCd' matches several records")
    assert UID_A in line and UID_B in line
    _user_error(cli("runs", "show", "zzzzzz"), "no run matches 'zzzzzz'")
    _user_error(cli("runs", "show", "Ab"), "at least 4 characters")


def test_runs_reap_marks_silent_runs_aborted(
    cli: Callable[..., Result], instance: Instance, plugin: Callable[[object, str], None]
) -> None:
    class Finished:
        def __init__(self) -> None:
            self.runs: list[fl.Run] = []

        @hookimpl
        def flowlineage_run_finished(self, run: fl.Run) -> None:
            self.runs.append(run)

    observer = Finished()
    plugin(observer, "test-finished")
    tf = get_or_create_transform("script.py")
    now = datetime.now(UTC)
    old, recent = now - timedelta(hours=3), now - timedelta(minutes=1)
    upsert_runs([
        dict(transform_id=tf.id, reference_type="t", reference="silent", status="started",
             started_at=old, heartbeat_at=old + timedelta(minutes=30)),
        dict(transform_id=tf.id, reference_type="t", reference="no-beat", status="started",
             started_at=old),
        dict(transform_id=tf.id, reference_type="t", reference="alive", status="started",
             started_at=old, heartbeat_at=recent),
        dict(transform_id=tf.id, reference_type="t", reference="done", status="completed",
             started_at=old),
    ])
    dry = _json(cli("runs", "reap", "--older-than", "2h", "--dry-run", "--json"))
    assert sorted(r["reference"] for r in dry) == ["no-beat", "silent"]
    assert fl.Run.filter(status="started").count() == 3 and observer.runs == []
    text = cli("runs", "reap", "--older-than", "1h30m")
    assert text.exit_code == 0, text.output
    assert "marked 2 run(s) silent for more than 1h30m as aborted" in text.stdout
    reaped = fl.Run.filter(status="aborted").all()
    assert sorted(r.reference for r in reaped) == ["no-beat", "silent"]  # type: ignore[type-var]
    assert all(r.finished_at is not None and r.finished_at > now - timedelta(minutes=5)
               for r in reaped)
    assert sorted(r.reference for r in observer.runs) == ["no-beat", "silent"]  # type: ignore
    assert fl.Run.get(reference="alive").status == "started"
    assert _json(cli("runs", "reap", "--older-than", "30s", "--json"))[0]["reference"] == "alive"
    _user_error(cli("runs", "reap", "--older-than", "soon"), "'soon' is not a duration")


# ---------------------------------------------------------------- artifacts and collections


def test_artifacts_list_and_show(cli: Callable[..., Result], data: dict[str, Any]) -> None:
    raw_v1, raw_v2 = data["raw_v1"], data["raw_v2"]
    listed = _json(cli("artifacts", "list", "--json"))
    assert [a["key"] for a in listed] == ["clean/counts.csv", "raw/counts.csv"]
    versions = _json(cli("artifacts", "list", "--all-versions", "--key", "raw/*", "--json"))
    assert [a["uid"] for a in versions] == [raw_v2.uid, raw_v1.uid]
    assert _json(cli("artifacts", "list", "--run", UID_A, "--all-versions", "--json")
                 )[0]["uid"] == raw_v1.uid
    by_flow = _json(cli("artifacts", "list", "--reference-type", "prefect_flow_run", "--json"))
    assert [a["key"] for a in by_flow] == ["clean/counts.csv"]
    assert _json(cli("artifacts", "list", "--suffix", ".txt", "--json")) == []
    table = cli("artifacts", "list").stdout
    assert "clean/counts.csv" in table and "5 B" in table
    shown = _json(cli("artifacts", "show", "raw/counts.csv", "--json"))
    assert shown["uid"] == raw_v2.uid  # the key names the latest version
    assert [v["uid"] for v in shown["versions"]] == [raw_v1.uid, raw_v2.uid]
    assert shown["run"]["uid"] == UID_B
    assert [r["transform"] for r in shown["input_of_runs"]] == ["prefect:flows.etl"]
    assert shown["collections"] == [{"uid": data["collection"].uid, "key": "samples"}]
    assert Path(shown["path"]).read_text() == "a\n2\n"
    old = _json(cli("artifacts", "show", raw_v1.uid, "--json"))
    assert old["is_latest"] is False
    family = _json(cli("artifacts", "show", raw_v1.uid[:10], "--json"))
    assert family["uid"] == raw_v2.uid  # a prefix of one version family: its latest version
    text = cli("artifacts", "show", raw_v2.uid[:8]).stdout
    assert "Artifact raw/counts.csv" in text and "versions (2)" in text
    assert "prefect:flows.etl" in text and "samples" in text
    _user_error(cli("artifacts", "show", "missing/key.csv"), "no artifact matches")


def test_collections_list_and_show(cli: Callable[..., Result], data: dict[str, Any]) -> None:
    listed = _json(cli("collections", "list", "--json"))
    assert [(c["key"], c["n_artifacts"]) for c in listed] == [("samples", 2)]
    assert _json(cli("collections", "list", "--key", "other", "--json")) == []
    shown = _json(cli("collections", "show", "samples", "--json"))
    assert [a["key"] for a in shown["artifacts"]] == ["clean/counts.csv", "raw/counts.csv"]
    assert shown["run"]["transform"] == "prefect:flows.etl"
    text = cli("collections", "show", data["collection"].uid[:6]).stdout
    assert "Collection samples" in text and "artifacts (2)" in text
    assert "samples" in cli("collections", "list").stdout


# ---------------------------------------------------------------- lineage


def test_lineage_formats_directions_and_files(
    cli: Callable[..., Result], data: dict[str, Any], tmp_path: Path
) -> None:
    text = cli("lineage", "clean/counts.csv")
    assert text.exit_code == 0, text.output
    assert text.stdout.startswith("upstream lineage of artifact clean/counts.csv")
    assert "created by: run prefect:flows.etl" in text.stdout
    assert "initiated by: run snakemake:Snakefile" in text.stdout
    down = cli("lineage", f"run:{data['wf'].id}", "--downstream", "--depth", "1").stdout
    assert "initiated: run snakemake:rule fetch" in down and "artifact" not in down.split(
        "\n", 2)[2]
    graph = _json(cli("lineage", data["flow"].uid, "--json"))
    assert graph["start"] == {"kind": "run", "id": data["flow"].id}
    mermaid = cli("lineage", "clean/counts.csv", "-f", "mermaid").stdout
    assert mermaid.startswith("flowchart LR")
    assert cli("lineage", "clean/counts.csv", "--format", "dot").stdout.startswith("digraph")
    page = tmp_path / "out" / "lineage.html"
    page.parent.mkdir()
    written = cli("lineage", "clean/counts.csv", "-f", "html", "-o", str(page))
    assert written.exit_code == 0 and written.stdout == ""
    assert "wrote html lineage (5 nodes)" in written.stderr  # raw_v1 is not upstream
    assert "prefect:flows.etl" in page.read_text()
    _user_error(cli("lineage", "clean/counts.csv", "-f", "png"), "'png'", "--format")
    # run 1 and artifact 1 share the number: the message says how to pick one
    _user_error(cli("lineage", "1"), "matches several records", "run:ID / artifact:ID")
    assert _json(cli("lineage", "artifact:1", "--json"))["start"]["kind"] == "artifact"


# ---------------------------------------------------------------- export


def test_export_needs_an_exporter_plugin(
    cli: Callable[..., Result], instance: Instance, no_plugins: None, tmp_path: Path
) -> None:
    # the core names no exporter: without the plugin, there is no export command at all
    _user_error(cli("export", "openlineage", "-o", str(tmp_path / "e.jsonl")),
                "No such command 'export'")


def test_export_calls_the_exporter_hook(
    cli: Callable[..., Result], data: dict[str, Any], plugin: Callable[[object, str], None],
    tmp_path: Path
) -> None:
    class LinesExporter:
        def __init__(self) -> None:
            self.since: list[datetime | None] = []
            self.progress: list[tuple[int, int]] = []

        @hookimpl
        def flowlineage_export(self, format: str, since: datetime | None, out: str,
                               progress: Callable[[int, int], None]) -> int | None:
            if format != "openlineage":
                return None
            self.since.append(since)
            runs = fl.Run.filter().order_by("id").all()
            with open(out, "w") as handle:
                for done, run in enumerate(runs, 1):
                    handle.write(run.uid + "\n")
                    progress(done, len(runs))
                    self.progress.append((done, len(runs)))
            return len(runs)

    exporter = LinesExporter()
    plugin(exporter, "test-exporter")
    out = tmp_path / "events.jsonl"
    result = cli("export", "openlineage", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "wrote 4 openlineage event(s)" in result.stderr
    assert out.read_text().splitlines()[1] == UID_A
    assert exporter.progress[-1] == (4, 4) and exporter.since == [None]
    assert cli("export", "openlineage", "-o", str(out), "--since", "2024-05-01").exit_code == 0
    _user_error(cli("export", "openlineage", "-o", "x", "--since", "yesterday"),
                "neither an ISO date/time")
    assert exporter.since[-1] == datetime(2024, 5, 1, tzinfo=UTC)
    assert cli("export", "openlineage", "-o", str(out), "--since", "2h").exit_code == 0
    since = exporter.since[-1]
    assert since is not None
    assert abs(since - (datetime.now(UTC) - timedelta(hours=2))) < timedelta(minutes=1)


# ---------------------------------------------------------------- plugins and errors


def test_plugins_add_commands_and_a_broken_one_is_skipped(
    cli: Callable[..., Result], fl_home: Path, plugin: Callable[[object, str], None],
    caplog: pytest.LogCaptureFixture
) -> None:
    class Hello:
        @hookimpl
        def flowlineage_register_commands(self, cli: typer.Typer) -> None:
            sub = typer.Typer(help="A test adapter.")

            @sub.command("greet")
            def greet(name: str) -> None:
                typer.echo(f"hello {name}")

            cli.add_typer(sub, name="hello")

    class Broken:
        @hookimpl
        def flowlineage_register_commands(self, cli: typer.Typer) -> None:
            raise RuntimeError("cannot build my commands")

    plugin(Hello(), "test-hello")
    plugin(Broken(), "test-broken")
    result = cli("hello", "greet", "world")
    assert result.exit_code == 0 and result.stdout == "hello world\n"
    assert "test-broken" in caplog.text and "cannot build my commands" in caplog.text
    assert "hello" in cli("--help").stdout


def test_debug_shows_the_error_itself(cli: Callable[..., Result], data: dict[str, Any]) -> None:
    quiet = cli("artifacts", "show", "nothing-here")
    _user_error(quiet, "no artifact matches 'nothing-here'")
    loud = cli("--debug", "artifacts", "show", "nothing-here")
    assert loud.exit_code == 1 and isinstance(loud.exception, DoesNotExist)
    _user_error(cli("runs", "shw"), "No such command 'shw'", "(see 'flowlineage runs --help')")


def test_main_returns_the_exit_code(fl_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init"]) == 0
    assert main(["runs", "show", "nope"]) == 2
    assert capsys.readouterr().err == "Error: no run matches 'nope'\n"
    fl.disconnect()


def test_importing_the_cli_is_cheap() -> None:
    code = ("import sys, flowlineage; assert 'typer' not in sys.modules; "
            "import flowlineage.cli; bad = {'sqlalchemy', 'rich.table', 'pandas'} & "
            "set(sys.modules); assert not bad, bad")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_root_help_summaries_are_the_commands_own() -> None:
    commands = Commands()
    for name, (_, _, summary) in COMMANDS.items():
        assert commands[name].get_short_help_str(200) == summary, name


def test_a_command_imports_only_what_it_needs(fl_home: Path) -> None:
    watched = ["sqlalchemy", "starlette", "flowlineage_prefect", "flowlineage_nextflow",
               "flowlineage.cli.records"]
    code = ("import json, sys; from flowlineage.cli.app import main; code = main(sys.argv[1:]); "
            f"print(json.dumps([m for m in {watched!r} if m in sys.modules])); sys.exit(code)")

    def imported(*args: str) -> set[str]:
        proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True,
                              text=True, timeout=120, env=dict(os.environ))
        assert proc.returncode == 0, proc.stderr
        return set(json.loads(proc.stdout.splitlines()[-1]))

    assert not imported("--help") & {"sqlalchemy", "starlette", "flowlineage.cli.records"}
    assert imported("runs", "list", "--json") == {"sqlalchemy", "flowlineage.cli.records"}


# ---------------------------------------------------------------- the installed script


@pytest.mark.parametrize("args, check", [
    (["info", "--json"], lambda out: json.loads(out)["runs"]["errored"] == 1),
    (["runs", "list", "--status", "errored", "--json"],
     lambda out: [r["uid"] for r in json.loads(out)] == [UID_B]),
    (["artifacts", "show", "clean/counts.csv", "--json"],
     lambda out: json.loads(out)["key"] == "clean/counts.csv"),
    (["collections", "show", "samples", "--json"],
     lambda out: len(json.loads(out)["artifacts"]) == 2),
    (["lineage", "clean/counts.csv", "--format", "json"],
     lambda out: len(json.loads(out)["nodes"]) == 5),
    (["runs", "reap", "--older-than", "1d", "--json"], lambda out: json.loads(out) == []),
], ids=["info", "runs", "artifacts", "collections", "lineage", "reap"])
def test_console_script(data: dict[str, Any], args: list[str],
                        check: Callable[[str], bool]) -> None:
    if not SCRIPT.exists():
        pytest.fail(f"{SCRIPT} is missing: pip install -e . installs the console script")
    proc = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr
    assert check(proc.stdout), proc.stdout


def test_console_script_user_errors(fl_home: Path, tmp_path: Path) -> None:
    env = {**os.environ, "FLOWLINEAGE_PLUGINS": ""}
    for args, message in [
        (["init"], None),
        (["export", "openlineage", "-o", str(tmp_path / "e.jsonl")],
         "Error: No such command 'export'. (see 'flowlineage --help')"),
        (["artifacts", "show", "nope"], "Error: no artifact matches 'nope'"),
        (["lineage", "x", "--depth", "zero"], "Error: Invalid value for '--depth'"),
    ]:
        proc = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True,
                              timeout=120, env=env)
        if message is None:
            assert proc.returncode == 0, proc.stderr
            continue
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith(message) and proc.stderr.count("\n") == 1, proc.stderr


# ---------------------------------------------------------------- finishing touches


def test_boolean_options_are_flags_in_help(cli: Callable[..., Result], fl_home: Path) -> None:
    for args in (["--help"], ["runs", "list", "--help"], ["artifacts", "delete", "--help"],
                 ["transforms", "show", "--help"], ["search", "--help"],
                 ["nextflow", "ingest-trace", "--help"]):
        result = cli(*args)
        assert result.exit_code == 0, result.output
        assert "<bool>" not in result.stdout, result.stdout
    assert "--install-completion" in cli("--help").stdout


def test_transforms_list_and_show(cli: Callable[..., Result], data: dict[str, Any]) -> None:
    listed = _json(cli("transforms", "list", "--key", "snakemake:*", "--json"))
    assert {t["key"]: t["runs"] for t in listed} == {"snakemake:Snakefile": 1,
                                                     "snakemake:rule fetch": 2}
    table = cli("transforms", "list", "--type", "flow")
    assert "prefect:flows.etl" in table.stdout and "snakemake" not in table.stdout
    shown = _json(cli("transforms", "show", "snakemake:rule fetch", "--json"))
    assert shown["runs"] == 2 and {r["uid"] for r in shown["recent_runs"]} == {UID_A, UID_B}
    text = cli("transforms", "show", "snakemake:rule fetch").stdout
    assert "recent runs (2 of 2)" in text and UID_B in text


def test_transform_uid_stem_means_its_latest_version(cli: Callable[..., Result],
                                                     data: dict[str, Any]) -> None:
    first = get_or_create_transform("script.py", source_code="print(1)")
    latest = get_or_create_transform("script.py", source_code="print(2)")
    assert latest.uid[:-4] == first.uid[:-4] and len(first.uid) == 16  # a 12-character stem
    shown = _json(cli("transforms", "show", first.uid[:-4], "--json"))
    assert shown["uid"] == latest.uid


def test_search_across_kinds(cli: Callable[..., Result], data: dict[str, Any]) -> None:
    hits = _json(cli("search", "COUNTS", "--json"))
    assert sorted((h["kind"], h["label"]) for h in hits) == [
        ("artifact", "clean/counts.csv"), ("artifact", "raw/counts.csv"),
        ("artifact", "raw/counts.csv")]
    kinds = {h["kind"] for h in _json(cli("search", "snakemake", "--json"))}
    assert kinds == {"transform"}
    assert {h["kind"] for h in _json(cli("search", UID_A[:8], "--json"))} == {"run"}
    assert [h["kind"] for h in _json(cli("search", "samples", "--json"))] == ["collection"]
    assert "nothing matches 'zzz'" in cli("search", "zzz").stdout


def test_artifacts_delete_and_restore(cli: Callable[..., Result],
                                      data: dict[str, Any]) -> None:
    uid = data["clean"].uid
    moved = cli("artifacts", "delete", "clean/counts.csv")
    assert moved.exit_code == 0 and f"artifacts restore {uid}" in moved.stdout
    assert "clean/counts.csv" not in cli("artifacts", "list").stdout
    assert cli("artifacts", "restore", uid).exit_code == 0
    assert "clean/counts.csv" in cli("artifacts", "list").stdout
    _user_error(cli("artifacts", "delete", uid, "--permanent"), "pass --yes")
    _user_error(cli("artifacts", "delete", uid, "--permanent", "--yes"),
                "belongs to collection(s)")
    old = data["raw_v1"].uid
    assert cli("artifacts", "delete", old, "--permanent", "--yes").exit_code == 0
    _user_error(cli("artifacts", "show", old), f"no artifact matches '{old}'")


def test_runs_delete_is_permanent_with_the_runs_it_initiated(
    cli: Callable[..., Result], data: dict[str, Any]
) -> None:
    wf = data["wf"]
    _user_error(cli("runs", "delete", wf.uid), "pass --yes", "2 run(s) it initiated",
                "2 artifact(s) they created stay")
    assert fl.Run.filter(id=wf.id).count() == 1  # nothing deleted without --yes
    done = cli("runs", "delete", wf.uid, "--yes")
    assert done.exit_code == 0 and "deleted 3 run(s)" in done.stdout
    assert not fl.Run.filter(id__in=[wf.id, data["job1"].id, data["job2"].id]).exists()
    raw = fl.Artifact.get(data["raw_v1"].uid)
    assert raw.run_id is None  # the artifacts stay, without their creating run
    assert fl.Run.filter(id=data["flow"].id).count() == 1

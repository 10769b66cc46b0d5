"""The plugin system: entry-point loading, failures, limits, and every hook exercised."""

from __future__ import annotations

import logging
import re
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flowlineage as fl
import pytest
import typer
from flowlineage import hookspecs, plugins
from flowlineage.db.engine import Instance
from flowlineage.hookspecs import hookimpl
from flowlineage.storage.backends import filesystem

DOCS = Path(__file__).parents[2] / "docs" / "plugins.md"


def test_every_hookspec_is_documented() -> None:
    specs = [n for n in dir(hookspecs) if n.startswith("flowlineage_")]
    assert len(specs) >= 7
    documented = set(re.findall(r"^### (flowlineage_\w+)$", DOCS.read_text(), re.M))
    assert set(specs) == documented


class RecordingPlugin:
    """A test plugin implementing every hook."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    @hookimpl
    def flowlineage_adapters(self) -> dict[str, Any]:
        return {"name": "recording", "orchestrator": "test", "reference_types": ["test_run"]}

    @hookimpl
    def flowlineage_register_commands(self, cli: typer.Typer) -> None:
        @cli.command("recording-hello")
        def hello() -> None:
            print("hello from the recording plugin")

    @hookimpl
    def flowlineage_run_started(self, run: fl.Run) -> None:
        self.calls.append(("run_started", run.id))

    @hookimpl
    def flowlineage_run_finished(self, run: fl.Run) -> None:
        self.calls.append(("run_finished", (run.id, run.status)))

    @hookimpl
    def flowlineage_artifact_saved(self, artifact: fl.Artifact, run: fl.Run | None) -> None:
        self.calls.append(("artifact_saved", (artifact.key, None if run is None else run.id)))

    @hookimpl
    def flowlineage_artifact_used(self, artifact: fl.Artifact, run: fl.Run) -> None:
        self.calls.append(("artifact_used", (artifact.key, run.id)))

    @hookimpl
    def flowlineage_storage_options(self, root: str) -> dict[str, Any] | None:
        return {"recorded_root": root} if root.startswith("memory://") else None


@pytest.fixture
def recording() -> Iterator[RecordingPlugin]:
    plugin = RecordingPlugin()
    pm = plugins.get_plugin_manager()
    pm.register(plugin, name="recording")
    yield plugin
    pm.unregister(plugin)


def test_observer_hooks_fire(instance: Instance, recording: RecordingPlugin,
                             tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("input")
    raw = fl.Artifact(src, key="in.txt").save()
    with fl.track(transform="observed") as run:
        raw.load()
        out = tmp_path / "out.txt"
        out.write_text("output")
        fl.Artifact(out, key="out.txt").save()
    names = [c for c in recording.calls if c[0] != "artifact_saved" or c[1][0] is not None]
    assert names == [
        ("artifact_saved", ("in.txt", None)),
        ("run_started", run.id),
        ("artifact_used", ("in.txt", run.id)),
        ("artifact_saved", ("out.txt", run.id)),
        ("run_finished", (run.id, "completed")),
    ]


def test_adapters_commands_and_storage_options(recording: RecordingPlugin) -> None:
    descriptions = plugins.hook().flowlineage_adapters()
    assert {"name": "recording", "orchestrator": "test", "reference_types": ["test_run"]} in \
        descriptions
    app = typer.Typer()
    plugins.hook().flowlineage_register_commands(cli=app)
    assert "recording-hello" in [c.name for c in app.registered_commands]
    fs = filesystem("memory", "memory://bucket")
    assert fs.storage_options["recorded_root"] == "memory://bucket"


def test_a_failing_observer_never_breaks_tracking(instance: Instance,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    class Broken:
        @hookimpl
        def flowlineage_run_started(self, run: fl.Run) -> None:
            raise RuntimeError("observer bug")

    pm = plugins.get_plugin_manager()
    broken = Broken()
    pm.register(broken)
    try:
        with caplog.at_level(logging.WARNING, logger="flowlineage.plugins"):
            run = fl.track(transform="still-tracked")
            fl.finish()
    finally:
        pm.unregister(broken)
    assert fl.Run.get(run.id).status == "completed"
    assert "observer bug" in caplog.text


@pytest.fixture
def fake_distribution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A real installed-distribution layout whose entry points name a good and a broken plugin."""
    site = tmp_path / "site"
    dist = site / "fl_test_plugins-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fl-test-plugins\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(textwrap.dedent("""\
        [flowlineage]
        good = fl_test_good_plugin
        broken = fl_test_missing_module_xyz
    """))
    (site / "fl_test_good_plugin.py").write_text(textwrap.dedent("""\
        from flowlineage.hookspecs import hookimpl

        @hookimpl
        def flowlineage_adapters():
            return {"name": "good", "orchestrator": "none", "reference_types": []}
    """))
    monkeypatch.syspath_prepend(str(site))
    plugins.reset()
    yield
    plugins.reset()
    sys.modules.pop("fl_test_good_plugin", None)


def test_broken_plugin_warns_and_others_load(fake_distribution: None,
                                             caplog: pytest.LogCaptureFixture,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOWLINEAGE_PLUGINS", raising=False)
    with caplog.at_level(logging.WARNING, logger="flowlineage.plugins"):
        names = {d["name"] for d in plugins.hook().flowlineage_adapters()}
    assert {"good", "prefect", "snakemake", "nextflow"} <= names
    warnings = [r for r in caplog.records if "failed to load" in r.getMessage()]
    assert len(warnings) == 1 and "'broken'" in warnings[0].getMessage()


def test_flowlineage_plugins_limits_loading(fake_distribution: None,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWLINEAGE_PLUGINS", "good,nextflow")
    names = {d["name"] for d in plugins.hook().flowlineage_adapters()}
    assert names == {"good", "nextflow"}
    plugins.reset()
    monkeypatch.setenv("FLOWLINEAGE_PLUGINS", "")
    assert plugins.hook().flowlineage_adapters() == []

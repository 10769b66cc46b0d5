"""The adapter's plumbing: plugin discovery, light hooks, settings and record parsing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from flowlineage.errors import ValidationError
from flowlineage_snakemake import events
from flowlineage_snakemake.options import Options


def test_snakemake_finds_the_logger_plugin() -> None:
    from snakemake_interface_logger_plugins.registry import LoggerPluginRegistry

    plugin = LoggerPluginRegistry().get_plugin("flowlineage")
    assert plugin.cli_prefix == "logger-flowlineage"
    assert {f for f in plugin.settings_cls.__dataclass_fields__} == {  # type: ignore[union-attr]
        "db", "storage", "register", "no_hash_inputs"}


def test_hooks_are_light_and_describe_the_adapter() -> None:
    code = ("import flowlineage, flowlineage_snakemake.hooks as h, sys; "
            "assert 'snakemake' not in sys.modules, 'snakemake imported'; "
            "print(h.flowlineage_adapters()['reference_types'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['snakemake_workflow', 'snakemake_job']"


def test_register_mode_is_validated() -> None:
    with pytest.raises(ValidationError, match="in-place, copy"):
        Options(register="symlink")


def test_file_entries(tmp_path: Path) -> None:
    wd = str(tmp_path)
    (tmp_path / "odd (1).txt").write_text("x")
    assert events.local_path("a/b.txt", wd) == f"{wd}/a/b.txt"
    assert events.local_path("a/../c.txt (update)", wd) == f"{wd}/c.txt"
    assert events.local_path("odd (1).txt", wd) == f"{wd}/odd (1).txt"  # a real name
    assert events.local_path("fifo (pipe)", wd) is None
    assert events.local_path("s3://bucket/k.txt (retrieve from storage)", wd) is None
    assert events.local_path("<TBD>", wd) is None
    assert events.local_paths(["x", "x", None, "y (service)"], wd) == [f"{wd}/x"]
    assert events.local_paths("bench.tsv", wd) == [f"{wd}/bench.tsv"]


def test_messages() -> None:
    assert events.job_in_error("MissingOutputException in rule x:\nJob 12  completed") == 12
    assert events.job_in_error("CalledProcessError in file Snakefile") is None
    assert events.killed_by_user("Command 'sleep 9' died with <Signals.SIGINT: 2>.")
    assert not events.killed_by_user("Command 'false' returned non-zero exit status 1.")
    assert events.job_name("count", {"wildcards": {"s": "a", "n": 2}}) == "count[s=a,n=2]"
    assert events.job_name("all", {"wildcards": {}}) == "all"

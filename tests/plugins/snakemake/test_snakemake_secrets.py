"""Secrets given to a real Snakemake run (``--config``, rule params, shell commands) are
redacted before anything reaches the database."""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa
from flowlineage.db.engine import Instance

from .smk_helpers import Runner, invocations, jobs_of

SECRETS_SNAKEFILE = """\
rule all:
    input: "fetched.txt", "denied.txt"

rule fetch:
    output: "fetched.txt"
    params: password=config["db_password"], user="alice"
    shell: "curl -s -H 'Authorization: Bearer xyz' file:///dev/null > {output}; echo ok >> {output}"

rule deny:
    output: "denied.txt"
    shell: "curl -s -H 'Authorization: Bearer xyz' file:///no/such/file > {output}"
"""
SECRETS = ("hunter2", "abc", "xyz")


def _text_values(instance: Instance) -> list[tuple[str, str, str]]:
    """Every non-null value of every text-like column of every table, as text."""
    meta = sa.MetaData()
    meta.reflect(instance.engine)
    found: list[tuple[str, str, str]] = []
    with instance.engine.connect() as conn:
        for table in meta.tables.values():
            for row in conn.execute(sa.select(table)).mappings():
                for name, value in row.items():
                    if isinstance(value, (str, dict, list, bytes)):
                        found.append((table.name, name, str(value)))
    return found


def test_secrets_never_reach_the_database(instance: Instance, tmp_path: Path,
                                          run_snakemake: Runner) -> None:
    workdir = tmp_path / "wf"
    workdir.mkdir()
    (workdir / "Snakefile").write_text(SECRETS_SNAKEFILE)
    proc = run_snakemake(workdir, "--keep-going", "--config", "db_password=hunter2",
                         "token=abc", check=False)
    assert proc.returncode == 1, proc.stderr

    inv = invocations()[0]
    assert inv.cli_args is not None and "db_password=***" in inv.cli_args
    assert (inv.params or {})["db_password"] == "***"
    jobs = jobs_of(inv)
    fetch, deny = jobs["fetch"], jobs["deny"]
    assert fetch.status == "completed" and deny.status == "errored"
    assert (fetch.params or {})["params"] == {"password": "***", "user": "alice"}
    assert "Authorization: Bearer ***" in (fetch.cli_args or "")
    assert "Authorization: Bearer ***" in (deny.description or "")

    values = _text_values(instance)
    assert any(t == "run" for t, _, _ in values)
    for secret in SECRETS:
        pattern = re.compile(rf"\b{secret}\b")
        leaks = [(t, c, v[:200]) for t, c, v in values if pattern.search(v)]
        assert not leaks, f"{secret!r} stored in {leaks}"

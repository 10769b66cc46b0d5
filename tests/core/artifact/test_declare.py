"""``fl.input()`` / ``fl.output()``, keys named after paths, and result edges."""

from __future__ import annotations

from pathlib import Path

import flowlineage as fl
import pytest
from flowlineage.adapters import link_run_results
from flowlineage.db import tables
from flowlineage.db.engine import Instance
from flowlineage.errors import ValidationError
from flowlineage.storage.hashing import hash_file
from flowlineage.storage.keys import key_for_path
from sqlalchemy import select


def test_key_for_path(tmp_path: Path) -> None:
    assert key_for_path(tmp_path / "a" / "b.csv", tmp_path) == "a/b.csv"
    assert key_for_path("b.csv", Path.cwd()) == "b.csv"
    outside = tmp_path.parent / "x.txt"
    assert key_for_path(outside, tmp_path) == outside.as_posix().lstrip("/")


def test_input_and_output_declare_files(any_instance: Instance, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    raw = tmp_path / "data" / "raw.txt"
    raw.write_text("raw")
    with pytest.raises(ValidationError, match=r"fl.input\(\) needs a current run"):
        fl.input(raw)
    assert fl.Artifact.filter().count() == 0  # nothing written

    with fl.track(transform="declare") as run:
        inp = fl.input(raw)
        out_path = tmp_path / "out.txt"
        out_path.write_text("out")
        out = fl.output(str(out_path), description="made")
        again = fl.input(raw)  # linked once
    assert (inp.key, inp.run_id, inp.hash) == ("data/raw.txt", None, hash_file(raw)[0])
    assert again.id == inp.id
    assert [a.id for a in run.input_artifacts] == [inp.id]
    assert (out.key, out.description, out.run_id) == ("out.txt", "made", run.id)

    with fl.track(transform="reader") as reader:
        assert fl.output(out_path, key="copy.txt").id == out.id  # same content: recreated
    assert [a.id for a in reader.recreated_artifacts] == [out.id]


def test_link_run_results_is_idempotent(any_instance: Instance) -> None:
    with fl.track(transform="up") as up:
        pass
    with fl.track(transform="down") as down:
        pass
    link_run_results([(down.id, up.id), (down.id, up.id)])
    link_run_results([(down.id, up.id)])
    t = tables.run_input_run
    with any_instance.connection() as conn:
        rows = conn.execute(select(t.c.run_id, t.c.input_run_id)).all()
    assert rows == [(down.id, up.id)]

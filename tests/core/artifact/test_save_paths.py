"""The save hot paths on SQLite and PostgreSQL: one write transaction per one-by-one save
leaving a normal saved record, and bulk saves with duplicates inside the batch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import flowlineage as fl
import pytest
from flowlineage.db.engine import Instance
from flowlineage.storage.hashing import hash_file
from sqlalchemy import event, inspect


@contextmanager
def _transactions(inst: Instance) -> Iterator[list[object]]:
    """A list that grows by one for every transaction begun on ``inst`` meanwhile."""
    begun: list[object] = []
    listener = begun.append
    event.listen(inst.engine, "begin", listener)
    try:
        yield begun
    finally:
        event.remove(inst.engine, "begin", listener)


def _copies(inst: Instance) -> set[str]:
    """The files flowlineage copied into the default storage."""
    return {str(p) for p in Path(inst.storage_root, ".flowlineage").glob("*") if p.is_file()}


def _stored() -> set[str]:
    """The paths of every copied artifact."""
    return {a.path for a in fl.Artifact.filter(_key_is_virtual=True)}


def test_one_save_is_one_transaction_and_a_normal_record(any_instance: Instance,
                                                         tmp_path: Path) -> None:
    src = tmp_path / "data" / "table.json"
    src.parent.mkdir()
    src.write_text('{"a": 1}')
    link = tmp_path / "link.json"
    link.symlink_to(src)
    with fl.track(transform="one") as run:
        with _transactions(any_instance) as begun:
            art = fl.Artifact(link, key="tables/t.json").save()
    assert len(begun) == 1
    assert inspect(art).detached and art.id is not None
    assert (art.hash, art.size) == hash_file(src) and art.uid.endswith("0000")
    assert art.run is not None and art.run.id == run.id and art.key == "tables/t.json"
    assert art.load() == {"a": 1} and Path(art.path).read_bytes() == src.read_bytes()
    got = fl.Artifact.get(art.id)
    assert (got.uid, got.hash, got.storage_id, got._storage_key, got.created_at) == (
        art.uid, art.hash, art.storage_id, art._storage_key, art.created_at)
    places = {(loc.path, loc.run_id) for loc in art.locations}
    assert places == {(str(src.resolve()), run.id), (art.path, None)}  # the link resolved
    art.description = "changed after saving"
    art.save()
    assert fl.Artifact.get(art.id).description == "changed after saving"


def test_one_save_of_known_content_adopts_it(any_instance: Instance, tmp_path: Path) -> None:
    first, second = tmp_path / "a.txt", tmp_path / "b.txt"
    first.write_text("same")
    second.write_text("same")
    saved = fl.Artifact(first, key="a.txt").save()
    with fl.track(transform="again") as run:
        again = fl.Artifact(second, key="b.txt").save()
    assert again.id == saved.id and again.key == "a.txt"
    assert [r.id for r in saved.recreating_runs] == [run.id]
    assert {loc.path for loc in saved.locations} >= {str(first), str(second)}
    assert _copies(any_instance) == _stored()  # the second copy was removed


@pytest.mark.parametrize("workers", [1, 3])
def test_bulk_save_with_duplicates_inside_the_batch(any_instance: Instance, tmp_path: Path,
                                                    workers: int) -> None:
    known = tmp_path / "known.txt"
    known.write_text("known before")
    before = fl.Artifact(known, key="known.txt").save()
    contents = ["x", "y", "x", "known before", "z", "y"]
    paths = []
    for i, text in enumerate(contents):
        paths.append(tmp_path / f"f{i}.txt")
        paths[-1].write_text(text)
    with fl.track(transform="bulk") as run:
        with _transactions(any_instance) as begun:
            saved = fl.save([fl.Artifact(p, key=f"batch/{p.name}") for p in paths],
                            max_workers=workers)
    assert saved[0].id == saved[2].id and saved[1].id == saved[5].id
    assert saved[3].id == before.id
    assert len({a.id for a in saved}) == 4
    assert fl.Artifact.filter(key__startswith="batch/").count() == 3
    for art, path in zip(saved, paths, strict=True):
        assert inspect(art).detached and Path(art.path).read_text() == path.read_text()
        assert str(path) in {loc.path for loc in art.locations}
    assert [r.id for r in before.recreating_runs] == [run.id]
    assert run.output_artifacts.count() == 3
    assert _copies(any_instance) == _stored()  # no copy left for a duplicate
    assert len(begun) == 3  # the batch, reading what it found stored, adopting duplicates

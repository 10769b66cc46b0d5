"""Collections: members in order, hash deduplication, versions, reading, run inputs,
trash, lineage, and members stored on S3.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import anndata as ad
import flowlineage as fl
import numpy as np
import pandas as pd
import pytest
from flowlineage.db.engine import Instance
from flowlineage.db.tables import collection_artifact, run_input_collection
from flowlineage.errors import DoesNotExist, ValidationError
from sqlalchemy import func, select


def _tables(n: int, prefix: str = "t") -> list[fl.Artifact]:
    arts = [fl.Artifact(pd.DataFrame({"i": [i], "src": [prefix]}), key=f"{prefix}/{i}.parquet")
            for i in range(n)]
    return fl.save(arts)


def _link_rows(table: object, **where: int) -> int:
    stmt = select(func.count()).select_from(table)  # type: ignore[arg-type]
    for col, value in where.items():
        stmt = stmt.where(table.c[col] == value)  # type: ignore[attr-defined]
    with fl.get_instance().read() as s:
        return int(s.execute(stmt).scalar_one())


def test_members_keep_their_order(any_instance: Instance) -> None:
    a, b, c = _tables(3)
    coll = fl.Collection([c, a, b], key="sets/abc", description="three tables",
                         reference="GSE1", reference_type="geo")
    assert coll.id is None
    assert coll.save() is coll
    assert coll.id is not None and len(coll.uid) == 20 and coll.uid.endswith("0000")
    assert [x.id for x in coll.ordered_artifacts] == [c.id, a.id, b.id]
    assert sorted(x.id for x in coll.artifacts) == sorted([a.id, b.id, c.id])
    assert coll.data_artifact is None and coll.meta_artifact is None
    assert coll.run is None and coll.transform is None and coll.name == "abc"
    got = fl.Collection.get(key="sets/abc")
    assert (got.id, got.description, got.reference, got.hash) == (
        coll.id, "three tables", "GSE1", coll.hash)
    assert fl.Collection.filter(reference_type="geo").count() == 1
    assert [x.id for x in a.collections] == [coll.id]
    got.description = "renamed"
    assert got.save() is got  # a saved collection updates its fields
    assert fl.Collection.get(coll.id).description == "renamed"
    assert fl.Collection.filter().count() == 1


def test_data_and_meta_artifact(any_instance: Instance) -> None:
    data, meta = _tables(2, "rxrx")
    coll = fl.Collection(data, key="rxrx", meta=meta).save()
    assert coll.data_artifact is not None and coll.data_artifact.id == data.id
    assert coll.meta_artifact is not None and coll.meta_artifact.id == meta.id
    assert [x.id for x in coll.ordered_artifacts] == [data.id]  # meta is not a member
    other_meta = _tables(1, "meta2")[0]
    # the meta artifact is part of the content: another meta is another collection
    assert fl.Collection(data, key="rxrx", meta=other_meta).save().id != coll.id


def test_invalid_members_are_refused(instance: Instance, tmp_path: Path) -> None:
    (saved,) = _tables(1)
    unsaved = fl.Artifact(pd.DataFrame({"u": [1]}), key="unsaved.parquet")
    with pytest.raises(ValidationError, match=r"artifact 1 \(unsaved.parquet\) is not saved"):
        fl.Collection([saved, unsaved])
    with pytest.raises(ValidationError, match="meta artifact is not saved"):
        fl.Collection(saved, meta=unsaved)
    with pytest.raises(ValidationError, match="at least one"):
        fl.Collection([])
    with pytest.raises(ValidationError, match="not an Artifact"):
        fl.Collection([saved, "x.csv"])  # type: ignore[list-item]
    with pytest.raises(ValidationError, match="Artifact or a list"):
        fl.Collection("x.csv")  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="listed twice"):
        fl.Collection([saved, saved])
    with pytest.raises(ValidationError, match="revises"):
        fl.Collection(saved, revises=fl.Collection(saved))
    fl.Collection(saved, reference="r1", reference_type="doi").save()
    with pytest.raises(ValidationError, match="references are unique"):
        fl.Collection(_tables(1, "other"), reference="r1", reference_type="doi").save()
    assert fl.Collection.filter().count() == 1


def test_same_set_deduplicates_and_links_recreating_run(any_instance: Instance) -> None:
    a, b, c = _tables(3)
    with fl.track(transform="grouper") as run1:
        first = fl.Collection([a, b, c], key="abc").save()
    with fl.track(transform="regrouper") as run2:
        again = fl.Collection([c, b, a], key="abc").save()  # order does not change the hash
    assert again.id == first.id and again.hash == first.hash
    assert again.run_id == run1.id
    assert [r.id for r in first.recreating_runs] == [run2.id]
    assert fl.Collection.filter().count() == 1
    assert first.hash != fl.Collection([a, b]).hash


def test_concurrent_saves_of_one_set_make_one_collection(any_instance: Instance) -> None:
    arts = _tables(5)
    ids: list[int | None] = []
    errors: list[BaseException] = []

    def save() -> None:
        try:
            ids.append(fl.Collection(arts, key="race").save().id)
        except BaseException as e:  # noqa: BLE001 - reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=save) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(set(ids)) == 1
    assert fl.Collection.filter().count() == 1
    assert _link_rows(collection_artifact) == 5


def test_versions_by_key_revises_and_append(any_instance: Instance) -> None:
    a, b, c, d = _tables(4)
    v1 = fl.Collection([a, b], key="family", description="first").save()
    v2 = fl.Collection([a, b, c], key="family").save()  # same key, new set: new version
    assert v2.stem_uid == v1.stem_uid and v2.uid.endswith("0001")
    assert v2.is_latest and not fl.Collection.get(v1.id).is_latest
    v3 = v2.append(d)
    assert v3.id is None and [x.id for x in fl.Collection.get(v2.id).ordered_artifacts] == [
        a.id, b.id, c.id]  # append leaves v2 unchanged
    v3.save()
    assert v3.uid == v1.stem_uid + "0002" and v3.key == "family"
    assert v3.description == "first" or v3.description is None
    assert [x.id for x in v3.ordered_artifacts] == [a.id, b.id, c.id, d.id]
    assert [v.uid[-4:] for v in v1.versions] == ["0000", "0001", "0002"]
    assert [v.is_latest for v in v3.versions] == [False, False, True]
    v4 = fl.Collection([d], revises=v3, description="only d").save()
    assert (v4.uid[-4:], v4.key, v4.description) == ("0003", "family", "only d")
    # a set saved before returns that version and leaves is_latest alone
    assert fl.Collection([b, a], key="family").save().id == v1.id
    assert fl.Collection.get(key="family", is_latest=True).id == v4.id


def test_trash_restore_and_permanent_delete(any_instance: Instance) -> None:
    a, b, c = _tables(3)
    v1 = fl.Collection([a, b], key="k").save()
    v2 = fl.Collection([a, b, c], key="k").save()
    v2.delete()
    assert fl.Collection.filter(key="k").count() == 1
    assert fl.Collection.filter(key="k", branch="trash").one().id == v2.id
    v2.restore()
    assert fl.Collection.filter(key="k").count() == 2
    v2.delete()
    assert fl.Collection([c, b, a]).save().id == v2.id  # saved again: back from the trash
    assert fl.Collection.get(v2.id)._branch_code == 1
    v2.delete(permanent=True)
    with pytest.raises(DoesNotExist):
        fl.Collection.get(v2.id)
    assert fl.Collection.get(v1.id).is_latest  # the previous version is latest again
    assert _link_rows(collection_artifact, collection_id=v2.id) == 0
    assert fl.Artifact.filter().count() >= 3  # members stay


def test_load_concatenates_dataframes(any_instance: Instance) -> None:
    left = fl.Artifact(pd.DataFrame({"a": [1, 2], "b": [3, 4]}), key="df/1.parquet").save()
    right = fl.Artifact(pd.DataFrame({"a": [5], "c": [6]}), key="df/2.parquet").save()
    coll = fl.Collection([left, right], key="frames").save()
    outer = coll.load(ignore_index=True)
    assert list(outer.columns) == ["a", "b", "c"] and outer["a"].tolist() == [1, 2, 5]
    assert outer["b"].isna().tolist() == [False, False, True]
    inner = coll.load(join="inner", ignore_index=True)
    assert list(inner.columns) == ["a"] and len(inner) == 3
    table = coll.open().to_table()
    assert sorted(table.column("a").to_pylist()) == [1, 2, 5]


def test_load_concatenates_anndata_with_a_source_column(instance: Instance) -> None:
    arts = []
    for i, names in enumerate([["g1", "g2"], ["g2", "g3"]]):
        adata = ad.AnnData(np.full((2, 2), i + 1, dtype=np.float32),
                           obs=pd.DataFrame(index=[f"c{i}{j}" for j in range(2)]),
                           var=pd.DataFrame(index=names))
        arts.append(fl.Artifact(adata, key=f"ad/{i}.h5ad").save())
    coll = fl.Collection(arts, key="cells").save()
    inner = coll.load(join="inner")
    assert list(inner.var_names) == ["g2"] and inner.n_obs == 4
    assert inner.obs["artifact_uid"].tolist() == [arts[0].uid] * 2 + [arts[1].uid] * 2
    outer = coll.load()
    assert list(outer.var_names) == ["g1", "g2", "g3"]
    with pytest.raises(ValidationError, match="Arrow format"):
        coll.open()


def test_load_refuses_mixed_members(instance: Instance, tmp_path: Path) -> None:
    (table,) = _tables(1)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    coll = fl.Collection([table, fl.Artifact(text, key="notes.txt").save()]).save()
    with pytest.raises(ValidationError, match="DataFrame"):
        coll.load()
    with pytest.raises(ValidationError, match=r"\.txt"):
        coll.open()


def test_reading_in_a_run_links_the_collection_once(any_instance: Instance) -> None:
    arts = _tables(2)
    coll = fl.Collection(arts, key="pair").save()
    with fl.track(transform="reader") as run:
        paths = coll.cache()
        coll.load()
        coll.open()
        unsaved = fl.Collection(arts[:1])
        assert len(unsaved.load()) == 1  # unsaved collections read, but link nothing
        assert fl.Collection.get(key="pair", is_run_input=True).id == coll.id
    assert paths == [Path(a.path) for a in arts] and all(p.exists() for p in paths)
    assert [c.id for c in run.input_collections] == [coll.id]
    assert [r.id for r in coll.input_of_runs] == [run.id]
    assert _link_rows(run_input_collection, run_id=run.id) == 1
    assert run.input_artifacts.count() == 0  # tracked at the collection level
    with fl.track(transform="quiet") as quiet:
        coll.load(is_run_input=False)
        fl.Collection.get(coll.id)
    assert quiet.input_collections.count() == 0


def test_saving_in_a_run_sets_run_and_inputs(any_instance: Instance) -> None:
    (old,) = _tables(1, "old")
    with fl.track(transform="maker") as maker:
        (new,) = _tables(1, "new")
        coll = fl.Collection([old, new], key="made").save()
        coll.load()  # its own output: not an input
    assert coll.run_id == maker.id and [c.id for c in maker.output_collections] == [coll.id]
    assert coll.transform is not None and coll.transform.key == "maker"
    assert maker.input_collections.count() == 0
    assert [a.id for a in maker.input_artifacts] == [old.id]  # as lamindb: members it used
    with fl.track(transform="extender") as extender:
        (extra,) = _tables(1, "extra")
        v2 = coll.append(extra).save()
    assert v2.run_id == extender.id
    assert [c.id for c in extender.input_collections] == [coll.id]  # the revised version
    explicit = fl.Collection([extra], key="explicit", run=maker).save()
    assert explicit.run_id == maker.id


def test_lineage_and_describe(any_instance: Instance, tmp_path: Path) -> None:
    with fl.track(transform="producer") as producer:
        arts = _tables(2, "p")
    with fl.track(transform="grouper") as grouper:
        coll = fl.Collection(arts, key="grouped").save()
    with fl.track(transform="consumer") as consumer:
        coll.load()
        (result,) = _tables(1, "result")
    up = coll.upstream()
    assert {r.id for r in up.run_list} == {producer.id, grouper.id}
    assert {a.id for a in up.artifact_list} == {a.id for a in arts}
    assert dict((r.id, d) for r, d in up.runs)[producer.id] == 2
    member_edges = [e for e in up.edges() if e[2] == "member"]
    assert sorted(e[0][1] for e in member_edges) == sorted(a.id for a in arts)
    assert (("run", grouper.id), ("collection", coll.id), "output") in up.edges()
    down = coll.downstream()
    assert [r.id for r in down.run_list] == [consumer.id]
    assert [a.id for a in down.artifact_list] == [result.id]
    shallow = coll.upstream(depth=1)
    assert [r.id for r in shallow.run_list] == [grouper.id] and len(shallow.artifacts) == 2
    graph = json.loads(coll.view_lineage(format="json"))
    assert graph["start"] == {"kind": "collection", "id": coll.id}
    assert {"kind": "collection", "uid": coll.uid, "n_artifacts": 2}.items() <= graph[
        "nodes"][0].items()
    assert {"source": f"artifact:{arts[0].id}", "target": f"collection:{coll.id}",
            "kind": "member"} in graph["edges"]
    tree = coll.view_lineage()
    assert tree.splitlines()[1].startswith("collection grouped  [2 artifact(s)")
    assert "├── member: artifact p/0.parquet" in tree and "created by: run producer" in tree
    below = coll.view_lineage("mermaid", direction="downstream")
    assert f"collection_{coll.id} --> run_{consumer.id}" in below
    page = tmp_path / "lineage.html"
    assert coll.view_lineage("html", path=page).startswith("<!DOCTYPE html>")
    assert page.read_text().startswith("<!DOCTYPE html>")
    with pytest.raises(ValidationError, match="unknown lineage format"):
        coll.view_lineage("png")
    text = coll.describe(print_=False)
    assert "grouped" in text and "p/0.parquet" in text and "p/1.parquet" in text
    assert f"input of 1 run(s): {consumer.uid}" in text
    assert coll.describe() is None


# ---------------------------------------------------------------- members on S3


def test_members_on_s3(s3_instance: Instance, tmp_path: Path) -> None:
    frames = [pd.DataFrame({"i": [i, i + 10]}) for i in range(3)]
    arts = [fl.Artifact(df, key=f"s3/{i}.parquet").save() for i, df in enumerate(frames)]
    assert all(a.path.startswith("s3://") for a in arts)
    coll = fl.Collection(arts, key="remote").save()
    with fl.track(transform="remote-reader") as run:
        paths = coll.cache()
        assert all(p.is_relative_to(s3_instance.settings.home) for p in paths)
        stamps = [p.stat().st_mtime_ns for p in paths]
        assert coll.cache() == paths and [p.stat().st_mtime_ns for p in paths] == stamps
        loaded = coll.load(ignore_index=True)
        dataset = coll.open()
    assert loaded["i"].tolist() == [0, 10, 1, 11, 2, 12]
    assert all(not f.startswith("/") for f in dataset.files)  # streamed from the bucket
    assert sorted(dataset.to_table().column("i").to_pylist()) == [0, 1, 2, 10, 11, 12]
    assert [c.id for c in run.input_collections] == [coll.id]


def test_mapped_streams_h5ad_members_from_s3(s3_instance: Instance) -> None:
    arts = []
    for i in range(2):
        adata = ad.AnnData(np.arange(6, dtype=np.float32).reshape(3, 2) + i,
                           obs=pd.DataFrame({"kind": pd.Categorical(["x", "y", "x"])},
                                            index=[f"c{i}{j}" for j in range(3)]),
                           var=pd.DataFrame(index=["g1", "g2"]))
        arts.append(fl.Artifact(adata, key=f"cells/{i}.h5ad").save())
    coll = fl.Collection(arts, key="cells").save()
    for stream in (True, False):
        with coll.mapped(obs_keys="kind", stream=stream) as ds:
            assert len(ds) == 6
            assert ds[4]["X"].tolist() == [3.0, 4.0] and ds[4]["kind"] == 1


def test_walks_pass_through_input_collections(any_instance: Instance) -> None:
    with fl.track(transform="producer") as producer:
        arts = _tables(2, "p")
    coll = fl.Collection(arts, key="c").save()  # outside a run: members are nobody's inputs
    with fl.track(transform="consumer") as consumer:
        coll.load()
        (out,) = _tables(1, "out")
    up = out.upstream()
    assert {r.id for r in up.run_list} == {consumer.id, producer.id}
    assert {a.id for a in up.artifact_list} == {a.id for a in arts}
    assert dict((a.id, d) for a, d in up.artifacts) == {arts[0].id: 2, arts[1].id: 2}
    assert (("artifact", arts[0].id), ("run", consumer.id), "input") in up.edges()
    down = arts[0].downstream()
    assert [r.id for r in down.run_list] == [consumer.id]
    assert [a.id for a in down.artifact_list] == [out.id]
    assert {a.id for a in consumer.upstream(depth=1).artifact_list} == {a.id for a in arts}


def test_collected_artifacts_cannot_be_deleted_permanently(any_instance: Instance) -> None:
    a, b, meta = _tables(3)
    coll = fl.Collection([a, b], key="pinned", meta=meta).save()
    for art in (a, meta):
        with pytest.raises(ValidationError, match=f"collection\\(s\\) {coll.uid}"):
            art.delete(permanent=True)
    coll.delete(permanent=True)
    a.delete(permanent=True)
    meta.delete(permanent=True)
    assert [x.id for x in fl.Artifact.filter()] == [b.id]


def test_gathering_own_tasks_outputs_is_no_input(any_instance: Instance) -> None:
    """A run collecting what the runs it started made produced that collection: those
    members are not its inputs (no loop parent -> input -> child -> parent)."""
    (outside,) = _tables(1, "outside")
    with fl.track(transform="pipeline") as pipeline:
        with fl.track(transform="task") as task:
            (made,) = _tables(1, "made")
        assert task.initiated_by_run_id == pipeline.id
        coll = fl.Collection([made, outside], key="gathered").save()
    assert coll.run_id == pipeline.id
    assert [a.id for a in pipeline.input_artifacts] == [outside.id]

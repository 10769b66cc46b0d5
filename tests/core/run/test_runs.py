"""Runs, transforms and projects: fields, statuses, queries, features, chains."""

from __future__ import annotations

import threading
from pathlib import Path

import flowlineage as fl
import pytest
from flowlineage.adapters import (
    get_or_create_transform,
    run_ids_with_feature,
    set_run_features,
    upsert_runs,
)
from flowlineage.db import tables
from flowlineage.db.engine import Instance
from flowlineage.db.enums import RunStatus
from flowlineage.errors import DoesNotExist, InvalidLookup, MultipleResultsFound, ValidationError
from sqlalchemy import func, select


def _transform(key: str = "t.py") -> fl.Transform:
    return get_or_create_transform(key=key, type="script", source_code="print(1)\n")


def test_status_codes_match_lamindb(any_instance: Instance) -> None:
    codes = {status.name: int(status) for status in RunStatus}
    assert codes == {
        "scheduled": -3, "restarted": -2, "started": -1, "completed": 0, "errored": 1, "aborted": 2,
    }
    tf = _transform()
    for name, code in codes.items():
        run = fl.Run(transform=tf, status=name).save()
        assert fl.Run.get(run.id)._status_code == code
        assert fl.Run.get(run.uid).status == name
    assert fl.Run.filter(status="errored").count() == 1
    assert fl.Run.filter(status__in=["completed", "aborted"]).count() == 2
    with pytest.raises(ValidationError, match="unknown run status"):
        fl.Run.filter(status="finished")


def test_query_api(any_instance: Instance) -> None:
    tf = _transform()
    runs = [fl.Run(transform=tf, name=f"r{i}", params={"i": i}).save() for i in range(5)]
    qs = fl.Run.filter(name__startswith="r")
    assert qs.count() == 5
    assert [r.name for r in qs.order_by("-id").all()] == ["r4", "r3", "r2", "r1", "r0"]
    assert qs.first().id == runs[0].id  # type: ignore[union-attr]
    assert fl.Run.filter(name="r3").one().params == {"i": 3}
    assert fl.Run.filter(transform__key="t.py").count() == 5
    assert fl.Run.filter(transform=tf).count() == 5
    with pytest.raises(MultipleResultsFound):
        qs.one()
    with pytest.raises(DoesNotExist):
        fl.Run.get(name="nope")
    with pytest.raises(InvalidLookup, match="no field"):
        fl.Run.filter(colour="red")
    df = qs.to_dataframe()
    assert list(df["name"]) == ["r0", "r1", "r2", "r3", "r4"]
    assert "_status_code" in df.columns


def test_sql_metacharacters_are_bound_parameters(any_instance: Instance) -> None:
    tf = _transform()
    evil = "x'; DROP TABLE run; --"
    fl.Run(transform=tf, name=evil).save()
    assert fl.Run.filter(name=evil).one().name == evil
    assert fl.Run.filter(name__contains="'; DROP").count() == 1
    assert fl.Run.filter(name__contains="%").count() == 0
    assert fl.Run.filter().count() == 1


def test_initiated_by_chain_and_unique_reference(any_instance: Instance) -> None:
    tf = _transform()
    flow = fl.Run(transform=tf, reference="f1", reference_type="demo_flow").save()
    sub = fl.Run(transform=tf, initiated_by_run=flow).save()
    task = fl.Run(transform=tf, initiated_by_run=sub).save()
    assert task.initiated_by_run.id == sub.id  # type: ignore[union-attr]
    assert sub.initiated_by_run.id == flow.id  # type: ignore[union-attr]
    assert [r.id for r in flow.initiated_runs] == [sub.id]
    ids = upsert_runs([{"reference_type": "demo_flow", "reference": "f1", "transform_id": tf.id,
                        "status": "completed"}])
    assert ids == {("demo_flow", "f1"): flow.id}
    assert fl.Run.get(flow.id).status == "completed"
    assert fl.Run.filter(reference="f1").count() == 1


def test_features_are_typed_and_queryable(any_instance: Instance) -> None:
    run = fl.Run(transform=_transform()).save()
    run.features.set_values({"accuracy": 0.93, "epochs": 3, "model": "cnn", "tags": ["a"]})
    run.features.set_values({"epochs": 4})
    assert run.features.get_values() == {"accuracy": 0.93, "epochs": 4, "model": "cnn",
                                         "tags": ["a"]}


def test_bundled_features_unpack_and_stay_queryable(any_instance: Instance) -> None:
    """Values not kept apart share one JSON row, which get_values unpacks and JSON lookups
    query; the ones kept apart stay indexed rows."""
    fast, slow = (fl.Run(transform=_transform()).save() for _ in range(2))
    set_run_features({fast.id: {"exit": 0, "duration": 80, "cpu": 85.2, "host": "n1"},
                      slow.id: {"exit": 1, "duration": 9000}}, apart={"exit"})
    assert fast.features.get_values() == {"exit": 0, "duration": 80, "cpu": 85.2, "host": "n1"}
    t = tables.run_feature_value
    with any_instance.read() as s:
        assert s.scalar(select(func.count()).select_from(t)) == 4  # 2 x (exit + bundle)
    long_runs = select(t.c.run_id).where(t.c.value["duration"].as_float() > 1000)
    assert [r.id for r in fl.Run.filter(fl.Run.id.in_(long_runs)).all()] == [slow.id]
    failed = select(t.c.run_id).where(t.c.name == "exit", t.c.value_num == 1)
    assert [r.id for r in fl.Run.filter(fl.Run.id.in_(failed)).all()] == [slow.id]
    with_host = fl.Run.filter(fl.Run.id.in_(run_ids_with_feature("host"))).all()
    assert [r.id for r in with_host] == [fast.id]
    fast.features.set_values({"duration": 81})  # a value of its own wins over the bundle
    assert fast.features.get_values()["duration"] == 81


def test_a_bundle_merges_into_the_recorded_one(any_instance: Instance) -> None:
    """A later bundle (a trace after weblog events) replaces the values it names and keeps
    the others, as rows of their own would."""
    run = fl.Run(transform=_transform()).save()
    set_run_features({run.id: {"native_id": "slurm-7", "queue": "short", "realtime": 5}},
                     apart=())
    set_run_features({run.id: {"realtime": 9, "exit": 0}}, apart=())
    assert run.features.get_values() == {"native_id": "slurm-7", "queue": "short",
                                         "realtime": 9, "exit": 0}
    with any_instance.read() as s:
        assert s.scalar(select(func.count()).select_from(tables.run_feature_value)) == 1


def test_bulk_writes_mix_new_known_and_repeated_rows(any_instance: Instance) -> None:
    """New rows are inserted (plainly on SQLite), known ones updated, a repeated key keeps
    its last row, and the ids returned are the stored ones."""
    tf = _transform()
    known = upsert_runs([{"reference_type": "job", "reference": "a", "transform_id": tf.id}])
    row = {"reference_type": "job", "transform_id": tf.id}
    ids = upsert_runs([
        row | {"reference": "b", "status": "started", "name": "first"},
        row | {"reference": "a", "status": "completed", "name": "a"},
        row | {"reference": "c", "status": "started", "name": "c"},
        row | {"reference": "b", "status": "errored", "name": "last"},
        row | {"reference": "d"}])
    runs = {r.reference: r for r in fl.Run.filter(reference_type="job")}
    assert ids == {("job", ref): run.id for ref, run in runs.items()}
    assert ids[("job", "a")] == known[("job", "a")] and len(set(ids.values())) == 4
    assert {ref: (r.status, r.name) for ref, r in runs.items()} == {
        "a": ("completed", "a"), "b": ("errored", "last"), "c": ("started", "c"),
        "d": ("scheduled", None)}
    set_run_features({ids[("job", "a")]: {"x": 1}})
    set_run_features({ids[("job", "a")]: {"x": 2, "y": 3}, ids[("job", "b")]: {"x": 5}})
    assert runs["a"].features.get_values() == {"x": 2, "y": 3}
    assert [r.reference for r in fl.Run.filter(features__x__gte=2).order_by("id")] == ["a", "b"]


def test_transform_versions_follow_source(instance: Instance) -> None:
    v1 = get_or_create_transform(key="p.py", source_code="a = 1\n")
    same = get_or_create_transform(key="p.py", source_code="a = 1\n")
    v2 = get_or_create_transform(key="p.py", source_code="a = 2\n")
    assert same.id == v1.id
    assert v2.uid[:12] == v1.uid[:12] and v2.uid != v1.uid
    assert [t.is_latest for t in v2.versions] == [False, True]
    assert fl.Transform.filter(key="p.py", is_latest=True).one().id == v2.id


def test_projects(instance: Instance) -> None:
    fl.Project(name="atlas").save()
    run = fl.track(project="atlas", params={"x": 1})
    fl.finish()
    project = fl.Project.get(name="atlas")
    assert [r.id for r in project.runs] == [run.id]
    assert [p.name for p in fl.Run.get(run.id).projects] == ["atlas"]


def test_track_records_script_and_environment(instance: Instance, tmp_path: Path) -> None:
    script = tmp_path / "analysis.py"
    script.write_text("print('hi')\n")
    run = fl.track(path=script, params={"alpha": 0.1})
    assert run.status == "started"
    assert get_current() == run.id
    fl.finish()
    run = fl.Run.get(run.id)
    assert run.status == "completed" and run.finished_at is not None
    assert run.finished_at >= run.started_at  # type: ignore[operator]
    tf = run.transform
    assert (tf.key, tf.type, tf.source_code) == ("analysis.py", "script", "print('hi')\n")
    env = run.environment
    assert env is not None and env.kind == "environment"
    packages = dict(line.split("==") for line in env.cache().read_text().splitlines())
    assert "sqlalchemy" in packages and "pluggy" in packages
    run2 = fl.track(path=script)
    fl.finish()
    assert fl.Run.get(run2.id).transform_id == tf.id
    assert fl.Run.get(run2.id).environment_id == env.id  # deduplicated by hash
    script.write_text("print('changed')\n")
    run3 = fl.track(path=script)
    fl.finish()
    assert fl.Run.get(run3.id).transform.uid[:12] == tf.uid[:12]
    assert fl.Run.get(run3.id).transform_id != tf.id


def get_current() -> int | None:
    run = fl.get_current_run()
    return None if run is None else run.id


def test_nested_track_and_context_manager(instance: Instance) -> None:
    with fl.track(transform="outer") as outer:
        inner = fl.track(transform="inner")
        assert inner.initiated_by_run_id == outer.id
        fl.finish()
    assert fl.Run.get(outer.id).status == "completed"
    with pytest.raises(RuntimeError), fl.track(transform="boom") as failing:
        raise RuntimeError("boom")
    assert fl.Run.get(failing.id).status == "errored"


def test_threads_have_their_own_current_run(instance: Instance) -> None:
    tf = _transform()
    seen: dict[int, int | None] = {}

    def work(i: int) -> None:
        run = fl.Run(transform=tf, name=f"t{i}").save()
        with fl.use_run(run):
            seen[run.id] = get_current()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(seen) == 8 and all(k == v for k, v in seen.items())
    assert fl.get_current_run() is None


def test_register_artifacts_with_known_hashes(any_instance: Instance) -> None:
    from flowlineage.adapters import register_artifacts

    tf = _transform()
    run = fl.Run(transform=tf).save()
    rows = [{"hash": f"md5:{i:032x}", "_hash_type": "nextflow", "storage_id":
             any_instance.storage_id, "_storage_key": f"work/ab/{i}.txt", "key": f"{i}.txt",
             "size": i, "run_id": run.id} for i in range(20)]
    ids = register_artifacts(rows)
    assert len(ids) == 20
    assert register_artifacts(rows) == ids  # idempotent
    assert run.output_artifacts.count() == 20
    assert fl.Artifact.get(key="7.txt").size == 7


def test_finishing_a_nested_run_restores_the_outer_one(instance: Instance) -> None:
    outer = fl.track(transform="outer-current")
    with fl.track(transform="inner-current") as inner:
        assert get_current() == inner.id
    assert get_current() == outer.id  # outputs saved after the block still belong to outer
    fl.finish()
    assert get_current() is None

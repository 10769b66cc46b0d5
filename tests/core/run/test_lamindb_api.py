"""lamindb compatibility: examples from lamindb's reference pages (``Run``, ``Context``,
``Transform``, ``Collection``, the registry methods), pasted with ``import flowlineage as
ln`` in place of ``import lamindb as ln``, each on a fresh store (issue 21)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import flowlineage as ln
import pytest
from flowlineage.db.engine import Instance
from flowlineage.errors import (
    DoesNotExist,
    InvalidLookup,
    MultipleResultsFound,
    ValidationError,
)


def _file(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _run_script(script: Path, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, str(script), *args], capture_output=True,
                          text=True, env=os.environ.copy(), timeout=120)
    assert done.returncode == 0, done.stderr
    return done


# ---------------------------------------------------------------- Transform and Run


def test_transform_kind_and_older_spellings(instance: Instance) -> None:
    transform = ln.Transform(key="Cell Ranger", version="7.2.0", kind="pipeline").save()
    assert (transform.kind, transform.type, transform.version) == ("pipeline", "pipeline", "7.2.0")
    older = ln.Transform(name="Cell Ranger", version="7.2.0", type="pipeline").save()
    assert older.id == transform.id  # the same transform, spelled the older way
    assert ln.Transform.filter(kind="pipeline").one().id == transform.id
    assert ln.Transform.filter(type="pipeline", name="Cell Ranger").count() == 1
    newer = ln.Transform(key="Cell Ranger", version="8.0.0", kind="pipeline").save()
    assert newer.uid[:12] == transform.uid[:12] and newer.uid != transform.uid
    assert "kind" in ln.Transform.df().columns
    with pytest.raises(ValidationError, match="no field 'colour'"):
        ln.Transform(key="x", colour="red")


def test_run_with_plan_describe_and_delete(instance: Instance, tmp_path: Path) -> None:
    transform = ln.Transform(key="Cell Ranger", version="7.2.0", kind="pipeline").save()
    plan = ln.Artifact(_file(tmp_path, "plan.md", "1. align\n2. count\n"), key="plan.md").save()
    run = ln.Run(transform, params={"learning_rate": 0.01}, plan=plan).save()
    assert ln.Run.get(run.id).plan.id == plan.id
    text = run.describe(print_=False)
    assert "Cell Ranger (pipeline" in text and "plan: plan.md" in text
    child = ln.Run(transform, initiated_by_run=run).save()
    out = ln.Artifact(_file(tmp_path, "out.txt", "x"), key="out.txt", run=run).save()
    run.delete()
    with pytest.raises(DoesNotExist):
        ln.Run.get(run.id)
    assert ln.Run.get(child.id).initiated_by_run is None
    assert ln.Artifact.get(out.id).run is None  # the artifact stays, without its run


def test_run_labels_and_projects_add(instance: Instance) -> None:
    transform = ln.Transform(key="train.py").save()
    run = ln.Run(transform).save()
    ulabel = ln.ULabel(name="benchmark")
    project = ln.Project(name="atlas")
    ln.save([ulabel, project])  # lamindb's bulk save takes any records
    run.ulabels.add(ulabel)
    run.ulabels.add(ulabel)  # once only
    run.projects.add(project)
    assert [u.name for u in run.ulabels] == ["benchmark"]
    assert [r.id for r in project.runs] == [run.id]
    run.ulabels.remove(ulabel)
    assert run.ulabels.count() == 0


def test_run_outputs_include_recreated_by_default(instance: Instance, tmp_path: Path) -> None:
    with ln.track(transform="writer"):
        first = ln.Artifact(_file(tmp_path, "a.txt", "same"), key="a.txt").save()
        collection = ln.Collection([first], name="My collection").save()
    with ln.track(transform="rewriter") as run:
        ln.Artifact(_file(tmp_path, "b.txt", "same"), key="b.txt").save()
        ln.Collection([first], key="My collection").save()
    assert [a.id for a in run.query_output_artifacts()] == [first.id]
    assert run.query_output_artifacts(include_recreated=False).count() == 0
    assert [c.id for c in run.recreated_collections] == [collection.id]
    assert collection.key == "My collection" and collection.name == "My collection"


def test_runs_dataframe_has_status(instance: Instance) -> None:
    transform = ln.Transform(key="t.py").save()
    ln.Run(transform, status="errored").save()
    ln.Run(transform, status="completed").save()
    df = ln.Run.filter().to_dataframe()
    assert sorted(df["status"]) == ["completed", "errored"]
    assert list(ln.Run.df(limit=1)["status"]) == ["completed"]  # newest first


# ---------------------------------------------------------------- registry methods


def test_get_by_uid_stub_uid_or_id(instance: Instance, tmp_path: Path) -> None:
    transform = ln.Transform(key="t.py").save()
    run = ln.Run(transform).save()
    assert ln.Run.get(run.uid[:6]).id == run.id
    assert ln.Run.get(run.uid).id == ln.Run.get(run.id).id == run.id
    with pytest.raises(DoesNotExist):
        ln.Run.get("zzzzzz")
    v1 = ln.Artifact(_file(tmp_path, "v1/x.txt", "1"), key="x.txt").save()
    v2 = ln.Artifact(_file(tmp_path, "v2/x.txt", "2"), key="x.txt").save()
    assert ln.Artifact.get(v1.stem_uid).id == v2.id  # a stem gives the latest version
    ln.Run(transform).save()
    with pytest.raises(MultipleResultsFound):
        ln.Run.get("")  # a stub every uid starts with


def test_df_include_lookup_and_search(instance: Instance) -> None:
    transform = ln.Transform(key="Cell Ranger", kind="pipeline").save()
    for name, lr in [("train", 0.01), ("tune", 0.1), ("evaluate training", None)]:
        ln.Run(transform, name=name, params={"learning_rate": lr}).save()
    df = ln.Run.df(include=["transform__key", "params__learning_rate"])
    assert list(df["transform__key"]) == ["Cell Ranger"] * 3
    assert list(df["params__learning_rate"])[1:] == [0.1, 0.01]
    assert len(ln.Run.filter(name__startswith="t").df(limit=1)) == 1
    ln.ULabel(name="My label").save()
    ln.ULabel(name="T cell").save()
    labels = ln.ULabel.lookup()
    assert labels.my_label.name == "My label" and labels.t_cell.name == "T cell"
    assert ln.ULabel.lookup(return_field="name")["T cell"] == "T cell"
    with pytest.raises(AttributeError):
        labels.b_cell  # noqa: B018 - the lookup raises
    assert [r.name for r in ln.Run.search("train")] == ["train", "evaluate training"]
    assert ln.Run.search("TRAIN").count() == 2
    assert ln.Run.search("TRAIN", case_sensitive=True).count() == 0
    assert [r.name for r in ln.Run.search("t", field="name", limit=1)] == ["train"]
    with pytest.raises(InvalidLookup, match="no field 'colour' to search"):
        ln.Run.search("x", field="colour")


def test_filter_with_q_params_and_features(any_instance: Instance) -> None:
    transform = ln.Transform(key="train.py").save()
    runs = [ln.Run(transform, name=f"r{i}", params=params).save() for i, params in enumerate(
        [{"learning_rate": 0.01, "opt": {"name": "adam"}}, {"learning_rate": 0.1},
         {"learning_rate": "auto"}, None])]
    assert [r.id for r in ln.Run.filter(params__learning_rate=0.01)] == [runs[0].id]
    assert ln.Run.filter(params__learning_rate__gt=0.05).one().id == runs[1].id
    assert ln.Run.filter(params__learning_rate="auto").one().id == runs[2].id
    assert ln.Run.filter(params__opt__name="adam").one().id == runs[0].id
    either = ln.Run.filter(ln.Q(name="r0") | ln.Q(params__learning_rate=0.1))
    assert sorted(r.name for r in either) == ["r0", "r1"]
    assert ln.Run.filter(~ln.Q(name="r0"), name__in=["r0", "r1"]).one().name == "r1"
    assert ln.Run.filter(ln.Q(transform__key="train.py") & ln.Q(name="r3")).count() == 1
    runs[1].features.set_values({"accuracy": 0.93, "split": "test"})
    assert ln.Run.filter(features__accuracy__gte=0.9).one().id == runs[1].id
    assert ln.Run.filter(features__split="test").one().id == runs[1].id
    assert ln.Run.filter(features__split="train").count() == 0
    with pytest.raises(InvalidLookup, match="'colour' is not a relation"):
        ln.Run.filter(colour__key="red")


# ---------------------------------------------------------------- Collection


def test_collection_append_updates_the_object_in_hand(instance: Instance,
                                                      tmp_path: Path) -> None:
    a = ln.Artifact(_file(tmp_path, "a.txt", "a"), key="a.txt").save()
    b = ln.Artifact(_file(tmp_path, "b.txt", "b"), key="b.txt").save()
    c = ln.Collection([a], name="My collection").save()
    c2 = c.append(b).save()
    assert c.is_latest is False and c2.is_latest is True
    assert ln.Collection.get(c.id).is_latest is False
    assert [v.id for v in ln.Collection.filter(key="My collection").order_by("id")] == [
        c.id, c2.id]


def test_collection_mapped_obs_filter(instance: Instance, tmp_path: Path) -> None:
    ad = pytest.importorskip("anndata")
    import numpy as np
    import pandas as pd

    arts = []
    for name, types in [("a", ["T", "B", "T"]), ("b", ["NK", "T"])]:
        adata = ad.AnnData(
            X=np.arange(len(types) * 2, dtype=np.float32).reshape(len(types), 2),
            obs=pd.DataFrame({"cell_type": pd.Categorical(types)},
                             index=[f"{name}{i}" for i in range(len(types))]),
            var=pd.DataFrame(index=["g0", "g1"]))
        path = tmp_path / f"{name}.h5ad"
        adata.write_h5ad(path)
        arts.append(ln.Artifact(path, key=f"cells/{name}.h5ad").save())
    collection = ln.Collection(arts, key="cells").save()
    with collection.mapped(obs_keys="cell_type", obs_filter={"cell_type": "T"},
                           encode_labels=False) as ds:
        assert len(ds) == 3
        assert [ds[i]["cell_type"] for i in range(3)] == ["T", "T", "T"]
        assert [ds[i]["X"].tolist() for i in range(3)] == [[0, 1], [4, 5], [2, 3]]
        assert ds.get_merged_labels("cell_type").tolist() == ["T", "T", "T"]
    with collection.mapped(obs_filter={"cell_type": ("B", "NK")}) as ds:
        assert len(ds) == 2 and [ds[i]["_store_idx"] for i in range(2)] == [0, 1]


# ---------------------------------------------------------------- Context: track, finish


def test_context_track_finish_report_and_environment(instance: Instance,
                                                     tmp_path: Path) -> None:
    assert ln.context.run is None and ln.context.transform is None
    ln.Project(name="My project").save()
    with pytest.raises(DoesNotExist, match="known projects: My project"):
        ln.track(project="unknown")
    assert ln.Run.filter().count() == 0 and ln.Project.filter().count() == 1
    script = _file(tmp_path, "analysis.py", "print('hi')\n")
    run = ln.context.track(path=script, project="My project", params={"alpha": 0.1})
    print("training...")
    print("a warning", file=sys.stderr)
    assert ln.context.run.id == run.id  # type: ignore[union-attr]
    assert ln.context.transform.key == "analysis.py"  # type: ignore[union-attr]
    assert ln.context.project.name == "My project"  # type: ignore[union-attr]
    assert ln.context.uid == run.transform.uid and ln.context.version is None
    assert ln.finish(ignore_non_consecutive=True).id == run.id  # type: ignore[union-attr]
    run = ln.Run.get(run.id)
    assert run.status == "completed" and ln.context.run is None
    assert run.report.cache().read_text() == "training...\na warning\n"
    requirements = run.environment.cache().read_text().splitlines()
    packages = dict(line.split("==") for line in requirements)  # one name==version a line
    assert list(packages) == sorted(packages) and "sqlalchemy" in packages


def test_track_by_uid_keeps_one_history_across_renames(instance: Instance,
                                                       tmp_path: Path) -> None:
    uid = "Onv04I53OgtT0000"
    body = ("import flowlineage as ln\nln.track({uid!r})\nprint('step', {n})\n"
            "ln.finish()\n")
    first = _file(tmp_path, "my_analysis.py", body.format(uid=uid, n=1))
    done = _run_script(first)
    assert done.stdout == "step 1\n"  # teed, not swallowed
    renamed = _file(tmp_path, "renamed_analysis.py", body.format(uid=uid, n=2))
    _run_script(renamed)
    _run_script(renamed)  # same source: the same version
    versions = ln.Transform.get(uid).versions.all()
    assert [(t.uid, t.key, t.is_latest) for t in versions] == [
        (uid, "my_analysis.py", False),
        ("Onv04I53OgtT0001", "renamed_analysis.py", True)]
    runs = ln.Run.filter(transform__uid__startswith="Onv04I53OgtT").order_by("id").all()
    assert [r.report.cache().read_text() for r in runs] == ["step 1\n", "step 2\n", "step 2\n"]
    assert ln.Transform.get("Onv04I53OgtT").key == "renamed_analysis.py"  # the stem: latest


# ---------------------------------------------------------------- flow and step


def test_flow_and_step_decorators(instance: Instance, tmp_path: Path) -> None:
    @ln.step()
    def clean(raw: Path, threshold: float = 0.5) -> Path:
        out = raw.with_name("clean.txt")
        out.write_text(raw.read_text().upper())
        return out

    @ln.flow()
    def pipeline(raw: Path, project: str) -> Path:
        assert ln.context.run is not None and ln.context.run.entrypoint == "pipeline"
        return clean(raw, threshold=0.7)

    raw = _file(tmp_path, "raw.txt", "abc")
    with pytest.raises(ValidationError, match="step 'clean' called outside a run"):
        clean(raw)
    assert ln.Run.filter().count() == 0
    ln.Project(name="atlas").save()
    out = pipeline(raw, project="atlas")
    assert out.read_text() == "ABC" and ln.context.run is None
    flow_run = ln.Run.get(entrypoint="pipeline")
    step_run = ln.Run.get(entrypoint="clean")
    assert (flow_run.status, step_run.status) == ("completed", "completed")
    assert step_run.initiated_by_run_id == flow_run.id
    assert step_run.params == {"raw": str(raw), "threshold": 0.7}
    assert [a.description for a in step_run.input_artifacts] == ["raw.txt"]
    assert [a.description for a in step_run.output_artifacts] == ["clean.txt"]
    assert [p.name for p in flow_run.projects] == ["atlas"]
    assert flow_run.transform.key == Path(__file__).name  # the file defining the functions

    @ln.step()
    def fails() -> None:
        raise RuntimeError("boom")

    with ln.track(transform="caller") as caller, pytest.raises(RuntimeError):
        fails()
    failed = ln.Run.get(initiated_by_run=caller)
    assert failed.status == "errored"

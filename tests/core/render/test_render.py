"""Lineage pictures: text, Mermaid, DOT, JSON and the self-contained HTML page (in Chromium)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import flowlineage as fl
import pytest
from fl_browser import drawn_pixels, painted
from flowlineage.adapters import get_or_create_transform, link_run_inputs, upsert_runs
from flowlineage.db.engine import Instance
from flowlineage.errors import ValidationError
from flowlineage.render.formats import FORMATS, render, to_html, view_lineage
from flowlineage.render.graph import build_graph

if TYPE_CHECKING:
    from playwright.sync_api import Page

ODD_KEY = 'odd "name" <b>&.txt'


def _artifact(tmp: Path, key: str, content: str, run: fl.Run) -> fl.Artifact:
    path = tmp / f"f{len(list(tmp.iterdir()))}.dat"
    path.write_text(content)
    return fl.Artifact(str(path), key=key, run=run).save()


def build_pipeline(tmp: Path) -> dict[str, Any]:
    """A Snakemake workflow feeding a Prefect flow and a Nextflow task."""
    tmp.mkdir(exist_ok=True)
    tf = {key: get_or_create_transform(key, type=kind) for key, kind in [
        ("snakemake:Snakefile", "pipeline"), ("snakemake:rule fetch", "rule"),
        ("snakemake:rule clean", "rule"), ("prefect:flows.report", "flow"),
        ("nextflow:STATS", "process"), ("script.py", "script")]}
    top = upsert_runs([dict(transform_id=tf["snakemake:Snakefile"].id, status="completed",
                            reference_type="snakemake_workflow", reference="wf")])
    wf = top[("snakemake_workflow", "wf")]
    ids = upsert_runs([
        dict(transform_id=tf["snakemake:rule fetch"].id, reference_type="snakemake_job",
             reference="wf:1", status="completed", initiated_by_run_id=wf),
        dict(transform_id=tf["snakemake:rule clean"].id, reference_type="snakemake_job",
             reference="wf:2", status="errored", initiated_by_run_id=wf),
        dict(transform_id=tf["prefect:flows.report"].id, reference_type="prefect_flow_run",
             reference="p1", status="completed"),
        dict(transform_id=tf["nextflow:STATS"].id, reference_type="nextflow_task",
             reference="n1:ab", status="aborted"),
        dict(transform_id=tf["script.py"].id, reference_type="test_script", reference="s1",
             status="completed"),
    ])
    runs = {ref: fl.Run.get(rid) for (_, ref), rid in ids.items()}
    runs["wf"] = fl.Run.get(wf)
    raw = _artifact(tmp, "raw/counts.csv", "a,b\n1,2\n", runs["wf:1"])
    link_run_inputs([(runs["wf:2"].id, raw.id), (runs["n1:ab"].id, raw.id)])
    clean = _artifact(tmp, "clean/counts.parquet", "clean", runs["wf:2"])
    link_run_inputs([(runs["p1"].id, clean.id)])
    report = _artifact(tmp, "report.html", "<html/>", runs["p1"])
    stats = _artifact(tmp, "stats.txt", "stats", runs["n1:ab"])
    link_run_inputs([(runs["s1"].id, stats.id)])
    odd = _artifact(tmp, ODD_KEY, "odd", runs["s1"])
    return {"raw": raw, "clean": clean, "report": report, "stats": stats, "odd": odd, **runs}


def build_fanout(tmp: Path, samples: int = 50) -> fl.Artifact:
    """A 203-node lineage: per sample a fetch job, raw file, align job and BAM, all started by
    one workflow run; a merge flow reads every BAM and writes one table."""
    tmp.mkdir(exist_ok=True)
    tw = get_or_create_transform("snakemake:Snakefile", type="pipeline")
    tfe = get_or_create_transform("snakemake:rule fetch", type="rule")
    tal = get_or_create_transform("snakemake:rule align", type="rule")
    tme = get_or_create_transform("prefect:flows.merge", type="flow")
    wf = upsert_runs([dict(transform_id=tw.id, reference_type="snakemake_workflow",
                           reference="W", status="completed")])[("snakemake_workflow", "W")]
    rows = []
    for i in range(samples):
        rows.append(dict(transform_id=tfe.id, reference_type="snakemake_job",
                         reference=f"W:f{i}", status="completed", initiated_by_run_id=wf))
        rows.append(dict(transform_id=tal.id, reference_type="snakemake_job",
                         reference=f"W:a{i}", status="errored" if i % 17 == 3 else "completed",
                         initiated_by_run_id=wf))
    rows.append(dict(transform_id=tme.id, reference_type="prefect_flow_run", reference="M",
                     status="completed"))
    ids = upsert_runs(rows)
    links = []
    for i in range(samples):
        raw = _artifact(tmp, f"raw/sample{i}.fastq", f"raw {i}",
                        fl.Run.get(ids[("snakemake_job", f"W:f{i}")]))
        links.append((ids[("snakemake_job", f"W:a{i}")], raw.id))
        bam = _artifact(tmp, f"aligned/sample{i}.bam", f"bam {i}",
                        fl.Run.get(ids[("snakemake_job", f"W:a{i}")]))
        links.append((ids[("prefect_flow_run", "M")], bam.id))
    link_run_inputs(links)
    return _artifact(tmp, "results/table.tsv", "table", fl.Run.get(ids[("prefect_flow_run", "M")]))


@pytest.fixture
def pipeline(instance: Instance, tmp_path: Path) -> dict[str, Any]:
    return build_pipeline(tmp_path / "data")


# ---------------------------------------------------------------- text, mermaid, dot, json


def test_text_tree_follows_the_walk(pipeline: dict[str, Any]) -> None:
    out = render(pipeline["report"].upstream(), "text")
    lines = out.splitlines()
    assert lines[0] == ("upstream lineage of artifact report.html "
                        "(4 run(s), 2 artifact(s), 7 edge(s))")
    assert lines[1].startswith("artifact report.html  [7 B · ")
    assert "└── created by: run prefect:flows.report  [prefect · completed" in lines[2]
    assert any("input: artifact clean/counts.parquet" in line for line in lines)
    assert any("initiated by: run snakemake:Snakefile  [snakemake · completed" in line
               for line in lines)
    assert any(line.endswith("initiated by: run snakemake:Snakefile (see above)")
               for line in lines)
    down = render(pipeline["raw"].downstream(), "text")
    assert "├── input of: run nextflow:STATS  [nextflow · aborted" in down
    assert "output: artifact report.html" in down
    assert f"output: artifact {ODD_KEY}" in down


def test_mermaid_shapes_colours_and_escaping(pipeline: dict[str, Any]) -> None:
    run = pipeline["wf"]
    out = render(run.downstream(), "mermaid")
    assert out.startswith("flowchart LR\n")
    assert f'run_{run.id}["snakemake:Snakefile<br/>snakemake · completed"]' in out
    raw = pipeline["raw"]
    assert f'artifact_{raw.id}(["raw/counts.csv<br/>8 B"])' in out  # rounded: stadium
    assert f"run_{run.id} -.-> run_{pipeline['wf:1'].id}" in out  # initiated: dashed
    assert f"run_{pipeline['wf:1'].id} --> artifact_{raw.id}" in out
    assert "odd #quot;name#quot; #lt;b#gt;#amp;.txt" in out
    assert 'odd "name"' not in out
    for name in ("snakemake", "prefect", "nextflow", "python", "artifact", "errored", "start"):
        assert f"classDef {name} " in out
    assert f"class run_{run.id} start" in out


def test_dot_is_valid_graphviz(pipeline: dict[str, Any]) -> None:
    lineage = pipeline["odd"].upstream()
    out = render(lineage, "dot")
    assert out.startswith("digraph lineage {\n  rankdir=LR;")
    assert out.count("style=dashed") == sum(1 for _, _, k in lineage.edges() if k == "initiated")
    assert 'label="odd \\"name\\" <b>&.txt\\n3 B"' in out
    assert 'style="rounded,filled"' in out and 'fillcolor="#fef3c7"' in out  # python run
    if shutil.which("dot") is None:
        pytest.skip("Graphviz dot is not installed: cannot check the DOT source compiles")
    svg = subprocess.run(["dot", "-Tsvg"], input=out.encode(), capture_output=True, check=True)
    assert b"nextflow:STATS" in svg.stdout and b"odd &quot;name&quot;" in svg.stdout


def test_json_includes_the_start_node(pipeline: dict[str, Any]) -> None:
    lineage = pipeline["clean"].upstream()
    data = json.loads(render(lineage, "json"))
    clean = pipeline["clean"]
    assert data["start"] == {"kind": "artifact", "id": clean.id}
    assert data["direction"] == "upstream"
    ids = {n["id"] for n in data["nodes"]}
    assert ids == {f"artifact:{clean.id}"} | {n["id"] for n in lineage.to_dict()["nodes"]}
    start = next(n for n in data["nodes"] if n["id"] == f"artifact:{clean.id}")
    assert start["depth"] == 0 and start["label"] == "clean/counts.parquet"
    edges = {(e["source"], e["target"], e["kind"]) for e in data["edges"]}
    assert (f"run:{pipeline['wf:2'].id}", f"artifact:{clean.id}", "output") in edges
    assert {(e["source"], e["target"], e["kind"]) for e in lineage.to_dict()["edges"]} <= edges


def test_view_lineage_writes_files_and_rejects_bad_arguments(
    pipeline: dict[str, Any], tmp_path: Path
) -> None:
    target = tmp_path / "lineage.mmd"
    out = view_lineage(pipeline["report"], "mermaid", target)
    assert target.read_text() == out and out.startswith("flowchart LR")
    down = view_lineage(pipeline["wf"], "text", direction="downstream", depth=1)
    assert "initiated: run snakemake:rule fetch" in down
    assert "output: artifact" not in down  # depth 1: only the initiated jobs
    with pytest.raises(ValidationError, match="unknown lineage format 'png'"):
        view_lineage(pipeline["report"], "png")
    with pytest.raises(ValidationError, match="direction must be"):
        view_lineage(pipeline["report"], direction="sideways")
    assert set(FORMATS) == {"text", "mermaid", "dot", "json", "html"}


# ---------------------------------------------------------------- html: the ui's viewer in one file


def _graph_data(page: str) -> dict[str, Any]:
    """The graph JSON of a viewer page (it must hold no raw ``<``: no tag can close early)."""
    blob = re.search(r'<script type="application/json" id="fl-graph-data">(.*?)</script>',
                     page, re.S)
    assert blob is not None and "<" not in blob.group(1)
    data: dict[str, Any] = json.loads(blob.group(1))
    return data


def _check_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert not re.search(r"<script[^>]*\ssrc=|<link[\s>]|<iframe|<img", page, re.I)
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None
    policy = dict(part.strip().split(" ", 1) for part in csp.group(1).split(";"))
    assert policy["default-src"] == "'none'"  # no fetch, no external script, font or image
    hashes = policy["script-src"].split()
    assert len(hashes) == 3 and all(h.startswith("'sha256-") for h in hashes)
    inline = re.findall(r"<script>(.*?)</script>", page, re.S)
    assert len(inline) == 3  # cytoscape, dagre and the viewer, each allowed by its hash
    assert "cytoscape" in inline[0] and 'getElementById("fl-graph")' in inline[2]


def test_html_is_the_ui_viewer_in_one_file(pipeline: dict[str, Any], tmp_path: Path) -> None:
    lineage = pipeline["report"].upstream()
    page = render(lineage, "html")
    _check_self_contained(page)
    data = _graph_data(page)
    expected = json.loads(render(lineage, "json"))
    assert {k: data[k] for k in expected} == expected  # to_dict's graph, as the ui sends it
    assert data["palette"]["runs"]["snakemake"] == ["#dcfce7", "#15803d"]
    assert "<title>upstream lineage of artifact report.html</title>" in page
    assert ">snakemake run</span>" in page and ">prefect run</span>" in page  # legend
    target = tmp_path / "lineage.html"
    assert view_lineage(pipeline["report"], "html", target) == target.read_text() == page


def test_html_escapes_user_strings(pipeline: dict[str, Any], tmp_path: Path) -> None:
    evil = '</script><script>alert(1)</script>"><img src=x onerror=alert(2)>.txt'
    _artifact(tmp_path / "data", evil, "evil", pipeline["s1"])
    page = render(pipeline["stats"].downstream(), "html")
    _check_self_contained(page)
    assert "alert(1)</script>" not in page and "<img src=x" not in page
    assert 'odd "name" <b>' not in page
    labels = {n["label"] for n in _graph_data(page)["nodes"]}
    assert {evil, ODD_KEY} <= labels  # escaped in the page, intact once parsed


def test_collection_lineage_as_html(pipeline: dict[str, Any]) -> None:
    coll = fl.Collection([pipeline["raw"], pipeline["clean"]], key="both").save()
    page = coll.view_lineage("html")
    _check_self_contained(page)
    assert {"raw/counts.csv", "clean/counts.parquet"} <= {
        n["label"] for n in _graph_data(page)["nodes"]}


# ---------------------------------------------------------------- in a real browser


def _open(page: Page, html: str, path: Path) -> list[str]:
    """Open a written viewer file; wait for the drawn graph; the labels of its nodes."""
    path.write_text(html)
    page.goto(path.as_uri())
    page.wait_for_selector("#fl-graph[data-ready='1']")
    labels: list[str] = page.evaluate(
        "window.flGraph.cy.nodes().map(n => window.flGraph.info(n.id()).label)")
    return labels


def _boxes(page: Page) -> dict[str, tuple[float, float, float, float]]:
    """Each node's bounding box (x1, y1, x2, y2) in the viewer's model coordinates."""
    boxes: dict[str, list[float]] = page.evaluate("""Object.fromEntries(
        window.flGraph.cy.nodes().map(n => { const b = n.boundingBox({includeLabels: false});
        return [n.id(), [b.x1, b.y1, b.x2, b.y2]]; }))""")
    return {k: (v[0], v[1], v[2], v[3]) for k, v in boxes.items()}


@pytest.mark.parametrize("size", ["small", pytest.param("200 nodes", marks=pytest.mark.slow)])
def test_html_renders_in_chromium(instance: Instance, tmp_path: Path, size: str,
                                  page: Page) -> None:
    if size == "small":
        start = build_pipeline(tmp_path / "data")["report"]
        expected = ["report.html", "prefect:flows.report", "snakemake:rule clean"]
    else:
        start = build_fanout(tmp_path / "data")
        expected = ["results/table.tsv", "aligned/sample49.bam", "raw/sample0.fastq"]
    graph = build_graph(start.upstream())
    labels = _open(page, to_html(graph), tmp_path / "lineage.html")
    assert len(labels) == len(graph.nodes) == (7 if size == "small" else 203)
    assert set(expected) <= set(labels)
    shot = page.locator("#fl-graph").screenshot()
    assert drawn_pixels(shot) > 2000, "the graph area is blank"
    assert painted(shot, "dcfce7")  # snakemake run boxes, in the adapter's colour
    boxes = _boxes(page)
    for src, dst, kind in graph.edges:  # data flows left to right
        if kind != "initiated":
            assert boxes[src][2] < boxes[dst][0], (src, dst)
    for column in _columns(boxes).values():  # no two boxes of a column overlap
        column.sort()
        assert all(a[1] < b[0] for a, b in zip(column, column[1:], strict=False))


def _columns(boxes: dict[str, tuple[float, float, float, float]]
             ) -> dict[float, list[tuple[float, float]]]:
    out: dict[float, list[tuple[float, float]]] = {}
    for x1, y1, x2, y2 in boxes.values():
        out.setdefault(round((x1 + x2) / 2), []).append((y1, y2))
    return out


def test_viewer_draws_a_cycle(instance: Instance, tmp_path: Path, page: Page) -> None:
    # a flow run reading its own task's output: flow -> task -> artifact -> flow
    flow_tf = get_or_create_transform("prefect:flows.main", type="flow")
    task_tf = get_or_create_transform("prefect:flows.task", type="task")
    flow = upsert_runs([dict(transform_id=flow_tf.id, reference_type="prefect_flow_run",
                             reference="f", status="completed")])[("prefect_flow_run", "f")]
    task = upsert_runs([dict(transform_id=task_tf.id, reference_type="prefect_task_run",
                             reference="t", status="completed", initiated_by_run_id=flow)])
    tmp_path.joinpath("x").write_text("x")
    art = fl.Artifact(str(tmp_path / "x"), key="x.txt",
                      run=fl.Run.get(task[("prefect_task_run", "t")])).save()
    link_run_inputs([(flow, art.id)])
    # bounded: an unbounded walk goes round the cycle up to lineage.MAX_DEPTH times
    graph = build_graph(art.downstream(depth=3))
    assert len(graph.edges) == 3
    labels = _open(page, to_html(graph), tmp_path / "cycle.html")
    assert sorted(labels) == sorted(n.label for n in graph.nodes.values())
    assert page.evaluate("window.flGraph.cy.edges().length") == 3
    assert drawn_pixels(page.locator("#fl-graph").screenshot()) > 1000

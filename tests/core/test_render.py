"""Lineage pictures: text, Mermaid, DOT, JSON and the self-contained HTML page (in Chromium)."""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import time
import zlib
from pathlib import Path
from typing import Any

import flowlineage as fl
import pytest
from flowlineage.adapters import get_or_create_transform, link_run_inputs, upsert_runs
from flowlineage.db.engine import Instance
from flowlineage.errors import ValidationError
from flowlineage.render.formats import FORMATS, render, to_html, view_lineage
from flowlineage.render.graph import build_graph
from flowlineage.render.layout import layered_layout

CHROMIUM = "/usr/bin/chromium"
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


# ---------------------------------------------------------------- html and layout


def _check_self_contained(page: str) -> None:
    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page.lower()
    urls = set(re.findall(r"https?://[^\s\"'<>]+", page))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}, urls
    assert "default-src 'none'" in page


def test_html_builtin_layout_is_self_contained(pipeline: dict[str, Any]) -> None:
    page = render(pipeline["report"].upstream(), "html", html_layout="builtin")
    _check_self_contained(page)
    for label in ("report.html", "prefect:flows.report", "snakemake:rule fetch",
                  "raw/counts.csv", "snakemake · errored"):
        assert f">{label}</text>" in page
    assert 'stroke-dasharray="6 4"' in page  # initiated edges
    assert page.count('class="edge ') == 7
    assert page.count('<g class="node ') == 7


def test_html_uses_graphviz_when_installed(pipeline: dict[str, Any]) -> None:
    if shutil.which("dot") is None:
        with pytest.raises(ValidationError, match="Graphviz"):
            render(pipeline["report"].upstream(), "html", html_layout="dot")
        pytest.skip("Graphviz dot is not installed")
    page = render(pipeline["report"].upstream(), "html", html_layout="dot")
    _check_self_contained(page)
    assert '<g id="graph0" class="graph"' in page  # drawn by dot
    assert "prefect:flows.report" in page
    assert render(pipeline["report"].upstream(), "html") == page  # auto picks dot


def test_layout_of_200_nodes_is_readable(instance: Instance, tmp_path: Path) -> None:
    table = build_fanout(tmp_path / "data")
    lineage = table.upstream()
    assert len(lineage) + 1 == 203
    began = time.perf_counter()
    graph = build_graph(lineage)
    layout = layered_layout(graph)
    page = to_html(graph, "builtin")
    assert time.perf_counter() - began < 20
    boxes = list(layout.boxes.values())
    assert len(boxes) == 203
    # no two boxes overlap
    by_x: dict[float, list[tuple[float, float]]] = {}
    for cx, cy, _, h in boxes:
        by_x.setdefault(round(cx, 1), []).append((cy - h / 2, cy + h / 2))
    for spans in by_x.values():
        spans.sort()
        assert all(a[1] < b[0] for a, b in zip(spans, spans[1:], strict=False))
    # data flows left to right: every input/output edge goes to a later layer
    x = {node_id: cx for node_id, (cx, _, _, _) in layout.boxes.items()}
    for src, dst, kind in graph.edges:
        if kind != "initiated":
            assert x[src] < x[dst]
    assert layout.width < 3000 and layout.height < 4000  # five layers, 50 rows
    assert len(page) < 1_000_000
    _check_self_contained(page)


def test_layout_survives_cycles(instance: Instance, tmp_path: Path) -> None:
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
    layout = layered_layout(graph)
    assert sum(1 for _, _, reversed_ in layout.paths if reversed_) == 1
    page = to_html(graph, "builtin")
    assert page.count("marker-start=") == 1 and page.count("marker-end=") == 2


# ---------------------------------------------------------------- in a real browser


def decode_png_rows(data: bytes, max_rows: int) -> tuple[int, int, list[bytes]]:
    """Width, pixel size and the first rows of an 8-bit RGB(A) PNG (a tiny pure-Python reader)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat = 8, bytearray()
    width = height = color = 0
    while pos < len(data):
        size = int.from_bytes(data[pos:pos + 4], "big")
        chunk, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + size]
        pos += 12 + size
        if chunk == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and interlace == 0 and color in (2, 6)
        elif chunk == b"IDAT":
            idat += body
    bpp = 3 if color == 2 else 4
    raw = zlib.decompressobj().decompress(bytes(idat), (width * bpp + 1) * max_rows)
    stride, prev, rows = width * bpp, bytearray(width * bpp), []
    for y in range(min(max_rows, height)):
        start = y * (stride + 1)
        method, line = raw[start], bytearray(raw[start + 1:start + 1 + stride])
        if method == 2:  # "up": vectorisable, the most common filter after Paeth
            line = bytearray((x + b) & 255 for x, b in zip(line, prev, strict=True))
        elif method:
            _unfilter(method, line, prev, bpp)
        rows.append(bytes(line))
        prev = line
    return width, bpp, rows


def _unfilter(method: int, line: bytearray, prev: bytearray, bpp: int) -> None:
    """Undo PNG filter 1 (sub), 3 (average) or 4 (Paeth) in place."""
    for i in range(len(line)):
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
        if method == 1:
            line[i] = (line[i] + a) & 255
        elif method == 3:
            line[i] = (line[i] + ((a + b) >> 1)) & 255
        else:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255


def _chromium() -> str:
    if os.path.exists(CHROMIUM):
        return CHROMIUM
    reason = f"{CHROMIUM} is missing: apt-get install -y chromium"
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def _browser(chromium: str, page: Path, profile: Path, *mode: str
             ) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", *mode, "--window-size=1600,1200",
         page.as_uri()],
        capture_output=True, text=True, timeout=180, check=True)


@pytest.mark.parametrize("size", ["small", pytest.param("200 nodes", marks=pytest.mark.slow)])
def test_html_renders_in_chromium(instance: Instance, tmp_path: Path, size: str) -> None:
    chromium = _chromium()
    if size == "small":
        start = build_pipeline(tmp_path / "data")["report"]
        labels = ["report.html", "prefect:flows.report", "snakemake:rule clean"]
    else:
        start = build_fanout(tmp_path / "data")
        labels = ["results/table.tsv", "aligned/sample49.bam", "raw/sample0.fastq"]
    page = tmp_path / "lineage.html"
    page.write_text(render(start.upstream(), "html", html_layout="builtin"))
    shot = tmp_path / "shot.png"
    _browser(chromium, page, tmp_path / "profile", f"--screenshot={shot}")
    width, bpp, rows = decode_png_rows(shot.read_bytes(), 500)
    assert width == 1600
    graph_rows = rows[100:]  # below the page header
    colours = {row[i:i + 3] for row in graph_rows for i in range(0, len(row), bpp)}
    assert len(colours) > 50, "the graph area is blank"
    assert bytes.fromhex("dcfce7") in colours  # snakemake run boxes were painted
    dom = _browser(chromium, page, tmp_path / "profile", "--dump-dom").stdout
    for label in labels:
        assert f">{label}</text>" in dom
    assert dom.count('<g class="node ') == (7 if size == "small" else 203)

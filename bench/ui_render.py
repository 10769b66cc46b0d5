"""UI figures: a 2,000-node lineage in chromium (first render, zoom redraw), the lineage
API for it, and the runs list over 100,000 runs.

Builds a SQLite store in a temporary FLOWLINEAGE_HOME: 100 samples through 10 steps (each
run reads the previous artifact) and one merge run reading the 100 results, i.e. 2,002
nodes upstream of the merged report. The viewer is ``render_html`` of that graph opened
from a file in headless Debian chromium (Playwright driving /usr/bin/chromium); first
render is ``performance.now()`` when the laid-out graph has drawn its first frame.

Run: python bench/ui_render.py [--quick] [--json]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from common import Figure, median_time, parser, report  # noqa: E402

SAMPLES, STEPS = 100, 10
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def build_pipeline(tmp: Path) -> str:
    """The sample × step pipeline; returns the uid of the merged report."""
    import flowlineage as fl
    from flowlineage.adapters import get_or_create_transform, link_run_inputs

    steps = [get_or_create_transform(key=f"snakemake:step{k}", type="rule") for k in range(STEPS)]
    previous: list[int | None] = [None] * SAMPLES
    for k, tf in enumerate(steps):
        runs = [fl.Run(transform=tf, status="completed", reference_type="snakemake.job").save()
                for _ in range(SAMPLES)]
        link_run_inputs([(r.id, p) for r, p in zip(runs, previous, strict=True) if p])
        folder = tmp / f"step{k}"
        folder.mkdir()
        arts = []
        for s, run in enumerate(runs):
            path = folder / f"sample{s}.txt"
            path.write_text(f"{k}-{s}")
            arts.append(fl.Artifact(path, key=f"step{k}/sample{s}.txt", run=run))
        previous = [a.id for a in fl.save(arts)]
    merge = fl.Run(transform=get_or_create_transform(key="merge", type="script"),
                   status="completed").save()
    link_run_inputs([(merge.id, p) for p in previous if p])
    out = tmp / "report.txt"
    out.write_text("merged")
    return fl.Artifact(out, key="report.txt", run=merge).save().uid


def add_runs(n: int) -> None:
    """``n`` more runs in one bulk insert (for the runs list)."""
    from flowlineage.adapters import get_or_create_transform
    from flowlineage.db.engine import get_instance
    from flowlineage.db.tables import run
    from sqlalchemy import insert

    tfs = [get_or_create_transform(key=f"prefect:flow{i}", type="flow").id for i in range(20)]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    rows = [{"uid": f"bulk{i:012d}", "transform_id": tfs[i % 20], "_status_code": i % 3 - 1,
             "reference_type": "prefect.flow_run" if i % 2 else None,
             "started_at": start + timedelta(minutes=i),
             "finished_at": start + timedelta(minutes=i, seconds=30)} for i in range(n)]
    with get_instance().write() as s:
        s.execute(insert(run), rows)


def browser_figures(html_file: Path) -> tuple[float, float, int]:
    """First render (s) and median zoom redraw (ms) of the viewer, and its node count."""
    from playwright.sync_api import sync_playwright

    firsts, redraws, n = [], [], 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for _ in range(3):
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(html_file.as_uri())
            page.wait_for_selector("#fl-graph[data-ready='1']", timeout=120_000)
            firsts.append(page.evaluate("window.flGraph.firstRenderMs") / 1000)
            n = page.evaluate("window.flGraph.cy.nodes().length")
            redraws.append(page.evaluate("""new Promise(done => {
                const cy = window.flGraph.cy, times = []; let i = 0;
                function step() {
                  const t = performance.now();
                  cy.zoom({level: cy.zoom() * (i % 2 ? 0.8 : 1.25),
                           renderedPosition: {x: 500, y: 400}});
                  requestAnimationFrame(() => { times.push(performance.now() - t);
                    if (++i < 20) step(); else done(times.sort((a, b) => a - b)[10]); });
                }
                step(); })"""))
            page.close()
        browser.close()
    return statistics.median(firsts), statistics.median(redraws), n


def main() -> None:
    args = parser(__doc__ or "").parse_args()
    n_runs = 20_000 if args.quick else 100_000
    with tempfile.TemporaryDirectory(prefix="flbench-ui-") as d:
        tmp = Path(d)
        os.environ["FLOWLINEAGE_HOME"] = str(tmp / "home")
        for var in ("FLOWLINEAGE_DB", "FLOWLINEAGE_STORAGE"):
            os.environ.pop(var, None)
        import flowlineage as fl
        import httpx
        from flowlineage.ui import render_html
        from flowlineage.ui.server import make_server

        fl.connect()
        report_uid = build_pipeline(tmp)
        add_runs(n_runs - SAMPLES * STEPS - 1)
        server = make_server("127.0.0.1", 0, None)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.02)
        url = f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
        with httpx.Client(base_url=url, timeout=60) as http:
            lineage = f"/api/lineage/artifact/{report_uid}?direction=up&depth=1000"
            graph = http.get(lineage).json()
            api_s = median_time(lambda: http.get(lineage).raise_for_status(), 3)
            runs_s = median_time(lambda: http.get("/runs").raise_for_status(), 5)
            deep = http.get("/api/runs", params={"limit": 500}).json()["next_cursor"]
            for _ in range(20):
                deep = http.get("/api/runs", params={"limit": 500, "cursor": deep}
                                ).json()["next_cursor"]
            deep_s = median_time(lambda: http.get(
                "/api/runs", params={"cursor": deep}).raise_for_status(), 5)
            filtered_s = median_time(lambda: http.get(
                "/runs", params={"status": "errored", "orchestrator": "prefect",
                                 "q": "flow1"}).raise_for_status(), 5)
        server.should_exit = True
        thread.join(10)
        page = tmp / "lineage.html"
        page.write_text(render_html(graph), encoding="utf-8")
        first_s, redraw_ms, shown = browser_figures(page)
        fl.disconnect()
    nodes = len(graph["nodes"])
    report("flowlineage ui", [
        Figure(f"lineage viewer, {nodes} nodes: first render in chromium", first_s, 2, "s",
               note=f"{shown} drawn; breadthfirst layout above 1,000 nodes; median of 3"),
        Figure(f"lineage viewer, {nodes} nodes: zoom step redraw", redraw_ms, 100, "ms",
               note="median of 20 steps"),
        Figure(f"GET /api/lineage upstream, {nodes} nodes", api_s * 1000, 1000, "ms",
               note="median of 3"),
        Figure(f"GET /runs first page of {n_runs:,} runs", runs_s * 1000, 300, "ms",
               note="with total count; median of 5"),
        Figure(f"GET /api/runs page after 10,500 runs (keyset) of {n_runs:,}", deep_s * 1000,
               300, "ms", note="median of 5"),
        Figure(f"GET /runs filtered + searched, {n_runs:,} runs", filtered_s * 1000, 300, "ms",
               note="status, orchestrator, q; median of 5"),
    ], args.json)


if __name__ == "__main__":
    main()

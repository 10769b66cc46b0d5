"""The UI in Debian's chromium, driven by Playwright (the system browser, no download)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fl_browser import drawn_pixels

from .ui_helpers import Served, Store

playwright_sync = pytest.importorskip("playwright.sync_api")
if TYPE_CHECKING:
    from playwright.sync_api import Page


def test_browse_runs_to_artifact_graph(served: Served, store: Store, page: Page,
                                       tmp_path: Path) -> None:
    pg = page
    pg.goto(served.url + "/runs")
    rows = pg.locator("table.runs tbody tr")
    assert rows.count() == 2
    assert {pg.locator(f"text={store.run1}").count(), pg.locator(f"text={store.run2}").count()} \
        == {1}
    pg.click("a:text-is('clean')")
    pg.wait_for_url(f"**/runs/{store.run2}")
    assert "min_count" in pg.locator("pre.params").inner_text()
    pg.click("a:text-is('clean.csv')")
    pg.wait_for_url(f"**/artifacts/{store.clean}")
    pg.wait_for_selector("#fl-graph[data-ready='1']")
    labels = pg.evaluate(
        "window.flGraph.cy.nodes().map(n => window.flGraph.info(n.id()).label)")
    assert "raw.csv" in labels and "clean.csv" in labels
    assert pg.evaluate("window.flGraph.cy.nodes().filter(n => n.renderedWidth() > 5).length") \
        == len(labels)
    assert pg.locator("table.preview th").all_inner_texts() == ["sample", "count"]
    # click the raw.csv node and read its details
    pg.evaluate("document.getElementById('fl-graph').scrollIntoView({block: 'start'})")
    pg.evaluate("new Promise(ok => requestAnimationFrame(() => ok(window.flGraph.cy.resize())))")
    pos = pg.evaluate("""(() => { const n = window.flGraph.cy.nodes().filter(
        n => window.flGraph.info(n.id()).label === 'raw.csv')[0]; const p = n.renderedPosition();
        const r = document.getElementById('fl-graph').getBoundingClientRect();
        return [r.left + p.x, r.top + p.y]; })()""")
    assert 0 < pos[1] < 900, pos
    pg.mouse.click(pos[0], pos[1])
    details = pg.locator("#fl-details")
    details.locator("h3").wait_for()
    assert details.locator("h3").inner_text() == "artifact raw.csv"
    assert store.raw in details.inner_text()
    assert details.locator("a").get_attribute("href") == f"/artifacts/{store.raw}"
    shot = pg.locator("#fl-graph").screenshot(path=str(tmp_path / "graph.png"))
    assert drawn_pixels(shot) > 2000, "the lineage graph is blank"
    # expand downstream of raw.csv through the API: nothing new, but the request succeeds
    pg.click("#fl-details button[data-expand='down']")
    playwright_sync.expect(pg.locator("#fl-graph-status")).to_contain_text("0 node(s) added")

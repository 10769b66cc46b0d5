"""A store with two tracked runs (the second read the first's raw.csv, wrote clean.csv)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import flowlineage as fl
import pytest
from flowlineage.ui.server import make_server

from .ui_helpers import XSS_KEY, XSS_PARAM, Served, Store


@pytest.fixture
def store(tmp_path: Path, fl_home: Path) -> Iterator[Store]:
    """Two runs: ``make_raw`` writes raw.csv; ``clean`` reads it and writes clean.csv."""
    fl.connect(f"sqlite:///{tmp_path / 'ui.db'}", storage=str(tmp_path / "storage"))
    raw_path = tmp_path / "raw.csv"
    raw_path.write_text("sample,count\na,1\nb,2\nc,-3\n")
    run1 = fl.track(transform="make_raw", params={"n": 3, "note": XSS_PARAM})
    raw = fl.Artifact(raw_path, key="raw.csv").save()
    fl.finish()
    run2 = fl.track(transform="clean", params={"min_count": 0})
    frame = fl.Artifact.get(raw.uid).load()
    clean_path = tmp_path / "clean.csv"
    frame[frame["count"] >= 0].to_csv(clean_path, index=False)
    clean = fl.Artifact(clean_path, key="clean.csv").save()
    xss_path = tmp_path / "xss.txt"
    xss_path.write_text("<b>not bold</b>\n")
    xss = fl.Artifact(xss_path, key=XSS_KEY, description=XSS_PARAM).save()
    fl.finish()
    yield Store(run1.uid, run2.uid, raw.uid, clean.uid, xss.uid)
    fl.disconnect()


@pytest.fixture
def served(store: Store) -> Iterator[Served]:
    """The UI on a free port of 127.0.0.1, in a thread, stopped after the test."""
    server = make_server("127.0.0.1", 0, None)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "server did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    yield Served(f"http://127.0.0.1:{port}", server, thread)
    server.should_exit = True
    thread.join(15)
    assert not thread.is_alive()

"""A real browser for the tests: Debian's chromium driven by Playwright (no browser download)."""

from __future__ import annotations

import io
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


def _unavailable(reason: str) -> NoReturn:
    """Skip, or fail in CI, where the browser must be there."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


@pytest.fixture
def page() -> Iterator[Page]:
    """A chromium page (the system browser) that may reach only 127.0.0.1 and files."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        _unavailable(f"{CHROMIUM} is missing: apt-get install -y chromium")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            pg = context.new_page()
            pg.set_default_timeout(20_000)
            yield pg
            context.close()
        finally:
            browser.close()


def drawn_pixels(png: bytes) -> int:
    """Pixels of a screenshot that are not the white background."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    return sum(count for value, count in enumerate(image.histogram()) if value < 240)


def painted(png: bytes, rgb: str) -> bool:
    """Whether a screenshot has a pixel of colour ``rgb`` (``"dcfce7"``)."""
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("RGB")
    return tuple(bytes.fromhex(rgb)) in {c for _, c in image.getcolors(1 << 24) or []}

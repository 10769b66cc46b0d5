"""What the UI tests share with their fixtures: the store's uids, the server, the XSS probes."""

from __future__ import annotations

import threading
from dataclasses import dataclass

XSS_KEY = '<script>alert("k")</script>"><img src=x onerror=alert(1)>.txt'
XSS_PARAM = '"><img src=x onerror=alert(2)><script>alert(3)</script>'


@dataclass
class Store:
    """The uids a test needs."""

    run1: str
    run2: str
    raw: str
    clean: str
    xss: str


@dataclass
class Served:
    """A running UI server."""

    url: str
    server: object
    thread: threading.Thread

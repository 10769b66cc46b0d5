"""Live events: observer hooks turned into RunEvents sent through an OpenLineage transport."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from flowlineage.adapters import utcnow
from flowlineage.errors import ConfigurationError
from openlineage.client.client import OpenLineageClient
from openlineage.client.event_v2 import RunState
from openlineage.client.transport import Transport
from openlineage.client.transport.console import ConsoleConfig, ConsoleTransport
from openlineage.client.transport.file import FileConfig, FileTransport
from openlineage.client.transport.http import HttpConfig, HttpTransport

from .config import ENV, namespace
from .events import EventBuilder, terminal_state

if TYPE_CHECKING:
    from flowlineage import Artifact, Run


def make_transport(target: str) -> Transport | None:
    """The transport a ``FLOWLINEAGE_OPENLINEAGE`` value names (None: the client's own)."""
    if target == "openlineage":
        return None
    if target == "console":
        return ConsoleTransport(ConsoleConfig())
    if target.startswith("file:"):
        path = target[len("file://"):] if target.startswith("file://") else target[len("file:"):]
        if not path:
            raise ConfigurationError(f"{ENV}={target!r} names no file")
        return FileTransport(FileConfig(log_file_path=path, append=True))
    if target.startswith(("http://", "https://")):
        parts = urlsplit(target)
        endpoint = parts.path.strip("/") or "api/v1/lineage"
        return HttpTransport(HttpConfig.from_dict({
            "url": f"{parts.scheme}://{parts.netloc}", "endpoint": endpoint}))
    raise ConfigurationError(
        f"{ENV}={target!r} is not understood: use file:PATH, console, http(s)://HOST[:PORT] "
        "or openlineage (the client's OPENLINEAGE_* configuration)")


class LiveEmitter:
    """Sends one RunEvent per observer hook call through an OpenLineage client."""

    def __init__(self, target: str) -> None:
        transport = make_transport(target)
        self.client = OpenLineageClient() if transport is None else \
            OpenLineageClient(transport=transport)

    def _builder(self) -> EventBuilder:
        return EventBuilder(namespace())

    def run_started(self, run: Run) -> None:
        """START, with the inputs linked so far."""
        inputs = run.input_artifacts.order_by("id").all()
        self.client.emit(self._builder().event(run, RunState.START, run.started_at or utcnow(),
                                               inputs, []))

    def run_finished(self, run: Run) -> None:
        """COMPLETE, FAIL or ABORT, with every input and output (recreated ones included)."""
        state = terminal_state(run.status)
        if state is None:
            return
        inputs = run.input_artifacts.order_by("id").all()
        outputs = run.query_output_artifacts(include_recreated=True).order_by("id").all()
        self.client.emit(self._builder().event(run, state, run.finished_at or utcnow(),
                                               inputs, outputs))

    def artifact_used(self, artifact: Artifact, run: Run) -> None:
        """RUNNING, with the artifact as an input."""
        self.client.emit(self._builder().event(run, RunState.RUNNING, utcnow(), [artifact], []))

    def artifact_saved(self, artifact: Artifact, run: Run) -> None:
        """RUNNING, with the artifact as an output."""
        self.client.emit(self._builder().event(run, RunState.RUNNING, utcnow(), [], [artifact]))

    def close(self) -> None:
        """Flush and close the transport."""
        self.client.close(timeout=5.0)

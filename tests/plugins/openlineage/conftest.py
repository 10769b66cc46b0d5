"""Fixtures for the OpenLineage exporter: the plugin registered, a clean environment, and a
validator of events against the vendored OpenLineage JSON schemas (see schema/README.md)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from flowlineage import plugins

SCHEMA_DIR = Path(__file__).parent / "schema"
PLUGIN_ROOT = Path(__file__).parents[3] / "plugins" / "openlineage"
OPENLINEAGE_ID = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
ENV_VARS = ("FLOWLINEAGE_OPENLINEAGE", "FLOWLINEAGE_OPENLINEAGE_NAMESPACE", "OPENLINEAGE_URL",
            "OPENLINEAGE_CONFIG", "OPENLINEAGE__TRANSPORT__TYPE", "OPENLINEAGE_DISABLED",
            "OPENLINEAGE__TRANSPORT__LOG_FILE_PATH", "OPENLINEAGE__TRANSPORT__APPEND")


@pytest.fixture
def ol_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[ModuleType]:
    """The exporter's hooks registered (as its entry point would), live events unconfigured."""
    from flowlineage_openlineage import hooks, live

    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    pm = plugins.get_plugin_manager()
    added = pm.get_plugin("openlineage") is None
    if added:
        pm.register(hooks, name="openlineage")
    live.reset()
    yield hooks
    live.reset()
    if added:
        pm.unregister(hooks)


@pytest.fixture(scope="session")
def validate_event() -> Callable[[dict[str, Any]], None]:
    """Check one event against OpenLineage.json and every facet against its own schema."""
    from jsonschema import Draft202012Validator, FormatChecker
    from referencing import Registry, Resource

    documents = {}
    for path in SCHEMA_DIR.rglob("*.json"):
        document = json.loads(path.read_text())
        documents[document["$id"]] = document
    registry: Registry[Any] = Registry().with_resources(
        (uri, Resource.from_contents(doc)) for uri, doc in documents.items())
    checker = FormatChecker()
    event_validator = Draft202012Validator(documents[OPENLINEAGE_ID], registry=registry,
                                           format_checker=checker)

    def facets_of(event: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
        yield from event["run"].get("facets", {}).items()
        yield from event["job"].get("facets", {}).items()
        for dataset in event.get("inputs", []) + event.get("outputs", []):
            yield from dataset.get("facets", {}).items()

    def validate(event: dict[str, Any]) -> None:
        assert event["schemaURL"].startswith(OPENLINEAGE_ID + "#")
        event_validator.validate(event)
        for name, facet in facets_of(event):
            document_id = facet["_schemaURL"].split("#")[0]
            assert document_id in documents, f"no vendored schema for {facet['_schemaURL']}"
            assert name in documents[document_id]["properties"], (name, document_id)
            Draft202012Validator({"$ref": facet["_schemaURL"]}, registry=registry,
                                 format_checker=checker).validate(facet)

    return validate

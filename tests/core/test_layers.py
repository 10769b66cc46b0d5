"""The core's layers: no import circle (module-level and deferred imports alike), a lower
layer never imports a higher one, few deferred internal imports, plugins on the public
surface, and the public names pinned (as httpx's ``test_exported_members``)."""

from __future__ import annotations

import ast
from pathlib import Path

import flowlineage
import flowlineage.adapters
import flowlineage.errors
import flowlineage.hookspecs

CORE = Path(flowlineage.__file__).parent
PLUGINS = CORE.parents[1] / "plugins"
LAYERS = ["errors", "settings", "optional", "hookspecs", "plugins", "db", "storage", "tracking",
          "lineage", "render", "run", "artifact", "collection", "context|steps", "cli|ui",
          "adapters"]
"""Lowest first; a module may import only its own layer's modules and lower layers. The two
front ends, ``cli`` and ``ui``, share the top layer."""
PUBLIC = {"flowlineage", "flowlineage.adapters", "flowlineage.errors"}


def _module(path: Path) -> str:
    parts = path.relative_to(CORE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> list[tuple[str, bool]]:
    """Internal modules a file imports at run time, each with whether it is deferred
    (inside a function). ``if TYPE_CHECKING:`` blocks are skipped: they never run."""
    tree = ast.parse(path.read_text())
    package = _module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, deferred: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            inner = deferred or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.ImportFrom):
                base = package.split(".")
                if child.level:
                    base = base[: len(base) - child.level + 1]
                    name = ".".join(base + ([child.module] if child.module else []))
                else:
                    name = child.module or ""
                if name.startswith("flowlineage"):
                    for alias in child.names:
                        sub = f"{name}.{alias.name}"
                        found.append((sub if (CORE.parent / sub.replace(".", "/")).exists()
                                      or Path(str(CORE.parent / sub.replace(".", "/")) + ".py")
                                      .exists() else name, inner))
            elif isinstance(child, ast.Import):
                found.extend((a.name, inner) for a in child.names
                             if a.name.startswith("flowlineage"))
            visit(child, inner)

    visit(tree, False)
    return found


def _layer(module: str) -> int:
    parts = module.split(".")
    if len(parts) == 1:
        return len(LAYERS)
    return next(i for i, layer in enumerate(LAYERS) if parts[1] in layer.split("|"))


def _graph() -> dict[str, list[tuple[str, bool]]]:
    return {_module(p): _imports(p) for p in CORE.rglob("*.py") if "migrations" not in p.parts}


def test_no_import_circle() -> None:
    graph = {m: {t for t, _ in deps if t != m} for m, deps in _graph().items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            assert state.get(nxt) != 1, "import circle: " + " -> ".join([*path, node, nxt])
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for module in graph:
        if module not in state:
            visit(module, [])


def test_lower_layers_never_import_higher_ones() -> None:
    wrong = [(m, t) for m, deps in _graph().items() if m != "flowlineage"
             for t, _ in deps if t != "flowlineage" and _layer(t) > _layer(m)]
    assert wrong == []


def test_few_deferred_internal_imports() -> None:
    deferred = [(m, t) for m, deps in _graph().items() for t, d in deps if d]
    assert len(deferred) <= 20, deferred


def test_plugins_import_only_the_public_surface() -> None:
    wrong = []
    for path in PLUGINS.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [a.name for a in node.names] if isinstance(node, ast.Import) else [])
            wrong += [f"{path.relative_to(PLUGINS)}: {n}" for n in names
                      if n.split(".")[0] == "flowlineage" and n not in PUBLIC]
    assert wrong == []


def test_every_layer_says_what_it_owns_and_may_import() -> None:
    for init in CORE.glob("*/__init__.py"):
        if init.parent.name == "migrations":
            continue
        doc = ast.get_docstring(ast.parse(init.read_text())) or ""
        assert doc.startswith("Owns ") and "May import:" in doc, init


def test_public_names() -> None:
    assert sorted(flowlineage.__all__) == [
        "Artifact", "Collection", "Project", "Q", "Run", "Storage", "Transform", "ULabel",
        "connect", "context", "disconnect", "errors", "finish", "flow", "get_current_run",
        "get_instance", "input", "output", "save", "step", "track", "use_run",
    ]
    for name in flowlineage.__all__:
        assert getattr(flowlineage, name) is not None
    assert set(flowlineage.adapters.__all__) == {
        "Branch", "HEARTBEAT_SECONDS", "Instance", "RunStatus", "cli_connect", "cli_progress",
        "current_run", "end_run",
        "ensure_connected", "get_current_run", "get_instance", "get_or_create_transform",
        "hash_bytes", "hash_file", "hash_folder", "hook", "hookimpl", "is_loopback", "key_for_path",
        "listen", "link_inputs", "link_recreated", "link_run_inputs", "link_run_results",
        "notify", "open_regular", "orchestrator_of", "parse_since", "print_json",
        "record_locations", "recorded_digests", "recorded_runs", "redact_args", "redact_command",
        "redact_params", "redact_text", "register_artifacts", "register_storage", "require",
        "require_regular",
        "reset_current_run", "run_ids_with_feature", "save_many", "set_current_run",
        "set_run_features", "suffix", "upsert_runs", "utcnow",
        "walk_files",
    }
    errors = {n for n, v in vars(flowlineage.errors).items()
              if isinstance(v, type) and issubclass(v, flowlineage.errors.FlowlineageError)}
    assert "FlowlineageError" in errors and "PluginError" in errors
    assert all(issubclass(getattr(flowlineage.errors, n), Exception) for n in errors)


class _AirflowAdapter:
    """A third-party adapter: it adds an orchestrator without touching the core."""

    @flowlineage.adapters.hookimpl
    def flowlineage_adapters(self) -> dict[str, object]:
        return {"name": "airflow", "orchestrator": "airflow",
                "reference_types": ["airflow_task_instance"], "color": ("#fee2e2", "#991b1b")}


class _BrokenAdapter:
    @flowlineage.adapters.hookimpl
    def flowlineage_adapters(self) -> dict[str, object]:
        return {"reference_types": []}


class _WrongHook:
    @flowlineage.adapters.hookimpl
    def flowlineage_no_such_hook(self) -> None:
        """Not a hook of flowlineage: the plugin breaks the contract."""


def test_a_third_party_adapter_adds_an_orchestrator() -> None:
    from flowlineage import plugins
    from flowlineage.render.graph import Node, node_colors

    pm = plugins.get_plugin_manager()
    adapter = _AirflowAdapter()
    pm.register(adapter, name="airflow-test")
    try:
        assert "airflow" in {a.orchestrator for a in plugins.adapters()}
        assert plugins.orchestrator_of("airflow_task_instance", "dags.etl") == "airflow"
        assert plugins.orchestrator_of(None, "script.py") == "python"
        node = Node("run:1", "run", "etl", "", 1, {"orchestrator": "airflow",
                                                   "status": "completed"})
        assert node_colors(node) == ("#fee2e2", "#991b1b")
    finally:
        pm.unregister(adapter)
    assert "airflow" not in {a.orchestrator for a in plugins.adapters()}


def test_a_malformed_adapter_description_is_a_plugin_error() -> None:
    import pytest
    from flowlineage import plugins

    pm = plugins.get_plugin_manager()
    broken = _BrokenAdapter()
    pm.register(broken, name="broken-test")
    try:
        with pytest.raises(flowlineage.errors.PluginError, match="'name'"):
            plugins.adapters()
    finally:
        pm.unregister(broken)


def test_a_plugin_with_an_unknown_hook_is_unregistered() -> None:
    import logging

    import pluggy
    from flowlineage import plugins

    pm = pluggy.PluginManager("flowlineage")
    pm.add_hookspecs(flowlineage.hookspecs)
    wrong = _WrongHook()
    pm.register(wrong, name="wrong-test")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    plugins.logger.addHandler(handler)
    try:
        plugins._check(pm)
    finally:
        plugins.logger.removeHandler(handler)
    assert pm.get_plugin("wrong-test") is None
    assert any("breaks the hook contract" in r.getMessage() for r in records)

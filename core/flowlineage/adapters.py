"""Everything an adapter plugin needs from the core, and nothing else.

Adapters (and any third-party plugin) import only ``flowlineage``, ``flowlineage.adapters``
and ``flowlineage.errors``. Records are written through these idempotent bulk helpers, never
through SQL; orchestrators are described to the core by the ``flowlineage_adapters`` hook.
Names load on first use, so a plugin's hooks module can import ``hookimpl`` without loading
the database layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .optional import load as _load

_EXPORTS = {  # public name -> (module, attribute); loaded on first use
    "Branch": ("db.enums", "Branch"),
    "cli_connect": ("cli.common", "connect"),
    "cli_progress": ("cli.common", "progress"),
    "current_run": ("tracking.state", "current_run"),
    "end_run": ("tracking.ending", "end_run"),
    "ensure_connected": ("db.engine", "ensure_connected"),
    "get_current_run": ("run.run", "get_current_run"),
    "get_instance": ("db.engine", "get_instance"),
    "get_or_create_transform": ("run.transform", "get_or_create_transform"),
    "hash_bytes": ("storage.hashing", "hash_bytes"),
    "hash_file": ("storage.hashing", "hash_file"),
    "hash_folder": ("storage.hashing", "hash_folder"),
    "HEARTBEAT_SECONDS": ("tracking.ending", "HEARTBEAT_SECONDS"),
    "hook": ("plugins", "hook"),
    "hookimpl": ("hookspecs", "hookimpl"),
    "Instance": ("db.engine", "Instance"),
    "key_for_path": ("storage.keys", "key_for_path"),
    "is_loopback": ("settings", "is_loopback"),
    "listen": ("settings", "listen"),
    "link_inputs": ("tracking.inputs", "link_inputs"),
    "link_recreated": ("db.upserts", "link_recreated"),
    "link_run_inputs": ("db.upserts", "link_run_inputs"),
    "link_run_results": ("db.upserts", "link_run_results"),
    "notify": ("plugins", "notify"),
    "open_regular": ("storage.files", "open_regular"),
    "orchestrator_of": ("plugins", "orchestrator_of"),
    "parse_since": ("cli.common", "parse_since"),
    "print_json": ("cli.common", "print_json"),
    "record_locations": ("artifact.locations", "record_locations"),
    "recorded_digests": ("db.upserts", "recorded_digests"),
    "recorded_runs": ("db.upserts", "recorded_runs"),
    "register_artifacts": ("artifact.known", "register_artifacts"),
    "redact_args": ("tracking.redact", "redact_args"),
    "redact_command": ("tracking.redact", "redact_command"),
    "redact_params": ("tracking.redact", "redact_params"),
    "redact_text": ("tracking.redact", "redact_text"),
    "register_storage": ("storage.roots", "register_storage"),
    "require": ("optional", "require"),
    "require_regular": ("storage.files", "require_regular"),
    "reset_current_run": ("tracking.state", "reset_current_run"),
    "run_ids_with_feature": ("db.upserts", "run_ids_with_feature"),
    "RunStatus": ("db.enums", "RunStatus"),
    "save_many": ("artifact.save", "save_many"),
    "set_current_run": ("tracking.state", "set_current_run"),
    "set_run_features": ("db.upserts", "set_run_features"),
    "suffix": ("storage.keys", "suffix"),
    "upsert_runs": ("db.upserts", "upsert_runs"),
    "utcnow": ("db.schema", "utcnow"),
    "walk_files": ("storage.files", "walk_files"),
}

__all__ = [
    "Branch",
    "cli_connect",
    "cli_progress",
    "current_run",
    "end_run",
    "ensure_connected",
    "get_current_run",
    "get_instance",
    "get_or_create_transform",
    "hash_bytes",
    "hash_file",
    "hash_folder",
    "HEARTBEAT_SECONDS",
    "hook",
    "hookimpl",
    "Instance",
    "key_for_path",
    "is_loopback",
    "listen",
    "link_inputs",
    "link_recreated",
    "link_run_inputs",
    "link_run_results",
    "notify",
    "open_regular",
    "orchestrator_of",
    "parse_since",
    "print_json",
    "record_locations",
    "recorded_digests",
    "recorded_runs",
    "redact_args",
    "redact_command",
    "redact_params",
    "redact_text",
    "register_artifacts",
    "register_storage",
    "require",
    "require_regular",
    "reset_current_run",
    "run_ids_with_feature",
    "RunStatus",
    "save_many",
    "set_current_run",
    "set_run_features",
    "suffix",
    "upsert_runs",
    "utcnow",
    "walk_files",
]

if TYPE_CHECKING:
    from .artifact.known import register_artifacts
    from .artifact.locations import record_locations
    from .artifact.save import save_many
    from .cli.common import connect as cli_connect
    from .cli.common import parse_since, print_json
    from .cli.common import progress as cli_progress
    from .db.engine import Instance, ensure_connected, get_instance
    from .db.enums import Branch, RunStatus
    from .db.schema import utcnow
    from .db.upserts import (
        link_recreated,
        link_run_inputs,
        link_run_results,
        recorded_digests,
        recorded_runs,
        run_ids_with_feature,
        set_run_features,
        upsert_runs,
    )
    from .hookspecs import hookimpl
    from .optional import require
    from .plugins import hook, notify, orchestrator_of
    from .run.run import get_current_run
    from .run.transform import get_or_create_transform
    from .settings import is_loopback, listen
    from .storage.files import open_regular, require_regular, walk_files
    from .storage.hashing import hash_bytes, hash_file, hash_folder
    from .storage.keys import key_for_path, suffix
    from .storage.roots import register_storage
    from .tracking.ending import HEARTBEAT_SECONDS, end_run
    from .tracking.inputs import link_inputs
    from .tracking.redact import redact_args, redact_command, redact_params, redact_text
    from .tracking.state import current_run, reset_current_run, set_current_run


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'flowlineage.adapters' has no attribute {name!r}")
    value = getattr(_load(f"flowlineage.{target[0]}"), target[1])
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)

"""Everything an adapter plugin needs from the core, and nothing else.

Adapters (and any third-party plugin) import only ``flowlineage``, ``flowlineage.adapters``
and ``flowlineage.errors``. Records are written through these idempotent bulk helpers, never
through SQL; orchestrators are described to the core by the ``flowlineage_adapters`` hook.
"""

from __future__ import annotations

from .artifact.known import register_artifacts
from .artifact.save import save_many
from .cli.common import connect as cli_connect
from .cli.common import parse_since, print_json
from .db.engine import Instance, ensure_connected, get_instance
from .db.enums import Branch, RunStatus
from .db.schema import utcnow
from .db.upserts import (
    link_recreated,
    link_run_inputs,
    run_ids_with_feature,
    set_run_features,
    upsert_runs,
)
from .hookspecs import hookimpl
from .optional import require
from .plugins import hook, notify, orchestrator_of
from .run.run import get_current_run
from .run.transform import get_or_create_transform
from .storage.hashing import hash_bytes, hash_file, hash_folder
from .storage.keys import suffix
from .storage.roots import register_storage
from .tracking.ending import HEARTBEAT_SECONDS, end_run
from .tracking.inputs import link_inputs
from .tracking.state import reset_current_run, set_current_run

__all__ = [
    "HEARTBEAT_SECONDS",
    "Branch",
    "Instance",
    "RunStatus",
    "cli_connect",
    "end_run",
    "ensure_connected",
    "get_current_run",
    "get_instance",
    "get_or_create_transform",
    "hash_bytes",
    "hash_file",
    "hash_folder",
    "hook",
    "hookimpl",
    "link_inputs",
    "link_recreated",
    "link_run_inputs",
    "notify",
    "orchestrator_of",
    "parse_since",
    "print_json",
    "register_artifacts",
    "register_storage",
    "require",
    "run_ids_with_feature",
    "reset_current_run",
    "save_many",
    "set_current_run",
    "set_run_features",
    "suffix",
    "upsert_runs",
    "utcnow",
]

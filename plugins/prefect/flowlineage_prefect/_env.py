"""``child_env()``: the environment that links a subprocess's runs to the current run."""

from __future__ import annotations

import os
from collections.abc import Mapping


def child_env(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of ``env`` (default ``os.environ``) for a subprocess started by the current run.

    It names the connected instance (``FLOWLINEAGE_HOME``, ``FLOWLINEAGE_DB``,
    ``FLOWLINEAGE_STORAGE``) and sets ``FLOWLINEAGE_PARENT_RUN`` to the current run's uid, so
    a ``fl.track()`` in the child records into the same instance, initiated by this run.
    Pass it as ``subprocess.run(..., env=child_env())``.
    """
    from flowlineage.adapters import ensure_connected, get_current_run

    out = dict(os.environ if env is None else env)
    settings = ensure_connected().settings
    out["FLOWLINEAGE_HOME"] = str(settings.home)
    out["FLOWLINEAGE_DB"] = settings.db_url
    out["FLOWLINEAGE_STORAGE"] = settings.storage_root
    run = get_current_run()
    if run is not None:
        out["FLOWLINEAGE_PARENT_RUN"] = run.uid
    else:
        out.pop("FLOWLINEAGE_PARENT_RUN", None)
    return out

"""Which transport live events go to, read from the environment (cheap: no OpenLineage import).

``FLOWLINEAGE_OPENLINEAGE`` names the target: ``file:PATH`` (JSON lines, appended),
``console``, an ``http(s)://`` URL, or ``openlineage`` (the client's own configuration).
Unset, the exporter is on only when the OpenLineage client itself is configured
(``OPENLINEAGE_URL``, ``OPENLINEAGE_CONFIG``, ``OPENLINEAGE__TRANSPORT__TYPE``);
``OPENLINEAGE_DISABLED=true`` or ``FLOWLINEAGE_OPENLINEAGE=off`` turn it off.
"""

from __future__ import annotations

import os

ENV = "FLOWLINEAGE_OPENLINEAGE"
NAMESPACE_ENV = "FLOWLINEAGE_OPENLINEAGE_NAMESPACE"
DEFAULT_NAMESPACE = "flowlineage"
CLIENT_ENV = ("OPENLINEAGE_URL", "OPENLINEAGE_CONFIG", "OPENLINEAGE__TRANSPORT__TYPE")
OFF = ("", "0", "off", "false", "no", "none")


def target() -> tuple[str | None, ...] | None:
    """The configured target plus the client settings it depends on; None when disabled."""
    env = os.environ
    chosen = env.get(ENV)
    clients = tuple(env.get(name) for name in CLIENT_ENV)
    if chosen is None and not any(clients):  # the common case: four lookups, nothing else
        return None
    if env.get("OPENLINEAGE_DISABLED", "").strip().lower() == "true":
        return None
    if chosen is None:
        return ("openlineage", *clients)
    chosen = chosen.strip()
    return None if chosen.lower() in OFF else (chosen, *clients)


def namespace() -> str:
    """The job namespace: ``FLOWLINEAGE_OPENLINEAGE_NAMESPACE``, default ``flowlineage``."""
    return os.environ.get(NAMESPACE_ENV) or DEFAULT_NAMESPACE

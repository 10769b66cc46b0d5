"""OpenLineage exporter for flowlineage: RunEvents live (observer hooks) and as a backfill.

Live: set ``FLOWLINEAGE_OPENLINEAGE`` (``file:/path/events.jsonl``, ``console``,
``http://host:5000`` or ``openlineage`` for the client's own ``OPENLINEAGE_*`` / YAML
configuration); setting ``OPENLINEAGE_URL`` or ``OPENLINEAGE__TRANSPORT__TYPE`` also
enables it. Backfill: ``flowlineage export openlineage -o events.jsonl``.
"""

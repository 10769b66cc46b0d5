"""Owns the database: tables and columns, engine and sessions, query sets, ids, named codes,
bulk upserts, versions, migrations.
May import: errors, settings, optional. Nothing else of flowlineage.
"""

"""Owns lineage walks over the tables (recursive SQL) and the edges among their nodes.
May import: db, tracking, storage and the top-level errors, plugins.
"""

"""Owns pictures of lineage: the graph model, text, mermaid, dot, json and html formats, and
their layout.
May import: lineage, db and the top-level errors, plugins, optional.
"""

"""Owns pictures of lineage: the graph model, text, mermaid, dot, json and html formats, and
the interactive viewer (``viewer`` and its vendored scripts in ``static/``) the ui serves too.
May import: lineage, db and the top-level errors, plugins, optional.
"""

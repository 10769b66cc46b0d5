"""Owns the `flowlineage` command line: the typer app, record commands, the demo.
May import: every layer below it (context, collection, artifact, run, render, ...).
"""

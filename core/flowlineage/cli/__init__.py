"""Owns the `flowlineage` command line: the typer app, record commands, the demo.
May import: ui (the other front end) and every layer below it.
"""

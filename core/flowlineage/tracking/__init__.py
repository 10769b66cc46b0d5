"""Owns the current run: its context, ending runs (status, exit handling, heartbeat), run
inputs, the environment.
May import: db, storage and the top-level errors, settings, plugins.
"""

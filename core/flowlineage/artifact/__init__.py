"""Owns Artifact: construction from data, saving with deduplication, versions, io, trash,
describe.
May import: run and every layer below it.
"""

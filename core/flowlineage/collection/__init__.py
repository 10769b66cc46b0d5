"""Owns Collection: versioned sets of artifacts, saving, loading, mapped access, lineage,
describe.
May import: artifact, run and every layer below them.
"""

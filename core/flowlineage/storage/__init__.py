"""Owns where bytes live: content hashing, keys and suffixes, storage backends (local, S3) and
storage roots.
May import: db and the modules beside it (errors, settings, optional, plugins).
"""

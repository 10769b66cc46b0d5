"""Owns Transform, Run (with features and ending) and the Project and ULabel labels, each class
with its behaviour.
May import: render, lineage, tracking, storage, db and the top-level modules below them.
"""

"""Readable summaries of records (``describe()``), rendered with rich when printing.

As in lamindb, ``describe()`` prints and returns None (so a REPL shows it once);
``describe(print_=False)`` returns the text instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, overload

from ..db.ids import VERSIONED_STEM_LEN
from ..render.summary import emit

if TYPE_CHECKING:
    from .artifact import Artifact


class Described:
    """``describe()`` for a record that can summarize itself (``_description()``)."""

    def _description(self) -> str:
        raise NotImplementedError

    @overload
    def describe(self, print_: Literal[True] = ...) -> None: ...
    @overload
    def describe(self, print_: Literal[False]) -> str: ...
    @overload
    def describe(self, print_: bool) -> str | None: ...

    def describe(self, print_: bool = True) -> str | None:
        """Print a readable summary and return None; with ``print_=False`` return it instead."""
        return emit(self._description(), print_)


def describe_artifact(art: Artifact) -> str:
    """Fields, storage, creating run, inputs-of and versions of an artifact, as text."""
    lines = [f"Artifact {art.key or art.description or ''} (uid {art.uid})"]
    for name in ("key", "description", "suffix", "otype", "size", "n_files", "hash",
                 "_hash_type", "version", "is_latest"):
        value = getattr(art, name, None)
        if value is not None:
            lines.append(f"  {name.lstrip('_')}: {value}")
    placement = "copied" if art._key_is_virtual else "in place"
    lines.append(f"  storage: {art.storage.root}  ({placement})")
    lines.append(f"  path: {art.path}")
    if art._branch_code != 1:
        lines.append("  in trash")
    if art.id is not None:
        run = art.run
        if run is not None:
            tf = run.transform
            lines.append(f"  run: {run.uid} of {tf.type} {tf.key} ({run.status})")
            inputs = run.input_artifacts.all()
            if inputs:
                lines.append("  inputs of that run:")
                lines.extend(f"    - {a.key or a.uid}" for a in inputs)
        lines.extend(usage_and_versions(art))
    return "\n".join(lines)


def usage_and_versions(record: Any) -> list[str]:
    """Lines naming the runs that read a saved artifact or collection, and its versions."""
    lines = []
    used = record.input_of_runs.all()
    if used:
        lines.append(f"  input of {len(used)} run(s): " + ", ".join(r.uid for r in used[:10]))
    versions = record.versions.all()
    if len(versions) > 1:
        lines.append("  versions: " + ", ".join(
            v.uid[VERSIONED_STEM_LEN:] + ("*" if v.is_latest else "") for v in versions))
    return lines


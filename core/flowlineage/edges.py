"""Edges among a set of runs and artifacts, and JSON descriptions of nodes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

Node = tuple[str, int]


def edges_between(run_ids: set[int], artifact_ids: set[int]) -> list[tuple[Node, Node, str]]:
    """Data-flow edges among the given nodes: input, output and initiated (parent → child).

    Members of a run's input collections are inputs of that run.
    """
    from .instance import get_instance
    from .models import Artifact, Run, collection_artifact, run_input_artifact
    from .models import run_input_collection as ric

    edges: list[tuple[Node, Node, str]] = []
    if not run_ids and not artifact_ids:
        return edges
    rids, aids = sorted(run_ids), sorted(artifact_ids)
    with get_instance().read() as s:
        for chunk in _chunks(aids):
            for aid, rid in s.execute(select(Artifact.id, Artifact.run_id)
                                      .where(Artifact.id.in_(chunk))):
                if rid in run_ids:
                    edges.append((("run", rid), ("artifact", aid), "output"))
        for chunk in _chunks(rids):
            for rid, aid in s.execute(
                select(run_input_artifact.c.run_id, run_input_artifact.c.artifact_id)
                .where(run_input_artifact.c.run_id.in_(chunk))
            ):
                if aid in artifact_ids:
                    edges.append((("artifact", aid), ("run", rid), "input"))
            for rid, aid in s.execute(
                select(ric.c.run_id, collection_artifact.c.artifact_id)
                .join(collection_artifact,
                      collection_artifact.c.collection_id == ric.c.collection_id)
                .where(ric.c.run_id.in_(chunk))
            ):
                if aid in artifact_ids:
                    edges.append((("artifact", aid), ("run", rid), "input"))
            for rid, parent in s.execute(select(Run.id, Run.initiated_by_run_id)
                                         .where(Run.id.in_(chunk))):
                if parent in run_ids:
                    edges.append((("run", parent), ("run", rid), "initiated"))
    return sorted(set(edges))


def _chunks(ids: list[int], size: int = 5000) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)] or []


def node_dict(record: Any, depth: int | None = None) -> dict[str, Any]:
    """A JSON-ready node for a Run or Artifact."""
    from .models import Artifact

    if isinstance(record, Artifact):
        out: dict[str, Any] = {
            "id": f"artifact:{record.id}", "kind": "artifact", "uid": record.uid,
            "label": record.key or record.description or record.uid, "hash": record.hash,
            "size": record.size,
        }
    else:
        tf = record.transform
        out = {
            "id": f"run:{record.id}", "kind": "run", "uid": record.uid,
            "label": tf.key, "transform_type": tf.type, "status": record.status,
            "reference_type": record.reference_type, "reference": record.reference,
            "orchestrator": orchestrator_of(record.reference_type, tf.key),
        }
    if depth is not None:
        out["depth"] = depth
    return out


def orchestrator_of(reference_type: str | None, transform_key: str) -> str:
    """The orchestrator that ran a run: the prefix of its reference type or transform key."""
    for name in ("prefect", "snakemake", "nextflow"):
        if (reference_type or "").startswith(name) or transform_key.startswith(name + ":"):
            return name
    return "python"

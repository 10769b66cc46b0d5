"""Edges among a set of runs and artifacts, and JSON descriptions of nodes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import select

from ..db import tables
from ..db.engine import get_instance
from ..plugins import adapters, orchestrator_of

Node = tuple[str, int]


def edges_between(run_ids: set[int], artifact_ids: set[int]) -> list[tuple[Node, Node, str]]:
    """Data-flow edges among the given nodes: input, output, initiated (parent → child) and
    result (the run whose in-memory result a run used → that run).

    Members of a run's input collections are inputs of that run.
    """
    artifact, run, ria = tables.artifact, tables.run, tables.run_input_artifact
    ric, collection_artifact = tables.run_input_collection, tables.collection_artifact
    rir = tables.run_input_run
    edges: list[tuple[Node, Node, str]] = []
    if not run_ids and not artifact_ids:
        return edges
    rids, aids = sorted(run_ids), sorted(artifact_ids)
    with get_instance().read() as s:
        for chunk in _chunks(aids):
            for aid, rid in s.execute(select(artifact.c.id, artifact.c.run_id)
                                      .where(artifact.c.id.in_(chunk))):
                if rid in run_ids:
                    edges.append((("run", rid), ("artifact", aid), "output"))
        for chunk in _chunks(rids):
            for rid, aid in s.execute(
                select(ria.c.run_id, ria.c.artifact_id).where(ria.c.run_id.in_(chunk))
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
            for rid, parent in s.execute(select(run.c.id, run.c.initiated_by_run_id)
                                         .where(run.c.id.in_(chunk))):
                if parent in run_ids:
                    edges.append((("run", parent), ("run", rid), "initiated"))
            for rid, used in s.execute(select(rir.c.run_id, rir.c.input_run_id)
                                       .where(rir.c.run_id.in_(chunk))):
                if used in run_ids:
                    edges.append((("run", used), ("run", rid), "result"))
    return sorted(set(edges))


def _chunks(ids: list[int], size: int = 5000) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)] or []


def node_dicts(items: Iterable[tuple[Any, int | None]],
               transforms: Mapping[int, Any]) -> list[dict[str, Any]]:
    """JSON-ready nodes for ``(run or artifact, depth)`` pairs (depth None: left out). A
    run's transform comes from ``transforms`` (by id) when there, else is loaded; the
    adapters are asked once for all nodes."""
    known = adapters()
    out = []
    for record, depth in items:
        if record.__table__ is tables.artifact:
            node: dict[str, Any] = {
                "id": f"artifact:{record.id}", "kind": "artifact", "uid": record.uid,
                "label": record.key or record.description or record.uid, "hash": record.hash,
                "size": record.size,
            }
        else:
            tf = transforms.get(record.transform_id) or record.transform
            node = {
                "id": f"run:{record.id}", "kind": "run", "uid": record.uid,
                "label": tf.key, "transform_type": tf.type, "status": record.status,
                "reference_type": record.reference_type, "reference": record.reference,
                "orchestrator": orchestrator_of(record.reference_type, tf.key, known),
            }
        if depth is not None:
            node["depth"] = depth
        out.append(node)
    return out

"""flowlineage records as OpenLineage RunEvents (openlineage-python's ``event_v2`` classes).

- job: namespace ``flowlineage`` (``FLOWLINEAGE_OPENLINEAGE_NAMESPACE``), name = transform
  key; the ``jobType`` facet names the orchestrator (integration) and transform type.
- run: ``runId`` = UUID5 of the run uid (stable across exports); the ``parent`` facet points
  at ``initiated_by_run`` and at the top of that chain (``root``).
- datasets: namespace from the storage root (``file`` for local folders, ``s3://bucket``),
  name = the path under it of the artifact's key (or its storage key), and a ``version``
  facet holding the artifact uid, so versions of one key are versions of one dataset.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import TYPE_CHECKING

from flowlineage import __version__
from flowlineage.adapters import orchestrator_of
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, RunEvent, RunState
from openlineage.client.event_v2 import Run as OLRun
from openlineage.client.facet_v2 import (
    DatasetFacet,
    dataset_version_dataset,
    job_type_job,
    parent_run,
)

if TYPE_CHECKING:
    from flowlineage import Artifact, Run, Storage, Transform

PRODUCER = f"https://pypi.org/project/flowlineage/{__version__}/"
RUN_ID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://flowlineage/run")
TERMINAL_STATES = {"completed": RunState.COMPLETE, "errored": RunState.FAIL,
                   "aborted": RunState.ABORT}


def run_uuid(run_uid: str) -> str:
    """The OpenLineage ``runId`` of a flowlineage run: a UUID5 of its uid."""
    return str(uuid.uuid5(RUN_ID_NAMESPACE, run_uid))


def dataset_address(storage_root: str, artifact: Artifact) -> tuple[str, str]:
    """OpenLineage (namespace, name) of an artifact, after the naming conventions.

    Local roots: ``file`` and the absolute path; ``s3://bucket/prefix``: ``s3://bucket``
    and the object key. The path is the artifact's key under the root when the key is
    virtual (the bytes live under a uid-based storage key), else its storage key.
    """
    relative = artifact.key if artifact._key_is_virtual and artifact.key else \
        artifact._storage_key
    if "://" in storage_root:
        scheme, rest = storage_root.split("://", 1)
        bucket, _, prefix = rest.partition("/")
        return f"{scheme}://{bucket}", f"{prefix}/{relative}" if prefix else relative
    return "file", f"{storage_root}/{relative}"


class EventBuilder:
    """Builds RunEvents, caching transforms, parent runs and storages across many events."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self._transforms: dict[int, Transform] = {}
        self._runs: dict[int, Run] = {}
        self._storages: dict[int, Storage] = {}

    def _transform(self, transform_id: int) -> Transform:
        from flowlineage import Transform

        found = self._transforms.get(transform_id)
        if found is None:
            found = self._transforms[transform_id] = Transform.get(transform_id)
        return found

    def _run(self, run_id: int) -> Run:
        from flowlineage import Run

        found = self._runs.get(run_id)
        if found is None:
            found = self._runs[run_id] = Run.get(run_id)
        return found

    def remember(self, runs: list[Run], transforms: list[Transform]) -> None:
        """Seed the caches with records already loaded."""
        self._runs.update((r.id, r) for r in runs)
        self._transforms.update((t.id, t) for t in transforms)

    def job(self, run: Run) -> Job:
        """The job of a run: its transform key, with the jobType facet."""
        tf = self._transform(run.transform_id)
        facet = job_type_job.JobTypeJobFacet(
            processingType="BATCH",
            integration=orchestrator_of(run.reference_type, tf.key).upper(),
            jobType=tf.type.upper(),
            producer=PRODUCER,
        )
        return Job(namespace=self.namespace, name=tf.key, facets={"jobType": facet})

    def parent_facet(self, run: Run) -> parent_run.ParentRunFacet | None:
        """The parent facet (initiating run, and the root of the chain), if any."""
        if run.initiated_by_run_id is None:
            return None
        parent = self._run(run.initiated_by_run_id)
        root, seen = parent, {run.id, parent.id}
        while root.initiated_by_run_id is not None and root.initiated_by_run_id not in seen:
            root = self._run(root.initiated_by_run_id)
            seen.add(root.id)
        root_tf = self._transform(root.transform_id)
        return parent_run.ParentRunFacet(
            run=parent_run.Run(runId=run_uuid(parent.uid)),
            job=parent_run.Job(namespace=self.namespace,
                               name=self._transform(parent.transform_id).key),
            root=parent_run.Root(
                run=parent_run.RootRun(runId=run_uuid(root.uid)),
                job=parent_run.RootJob(namespace=self.namespace, name=root_tf.key),
            ),
            producer=PRODUCER,
        )

    def _address(self, artifact: Artifact) -> tuple[str, str, dict[str, DatasetFacet]]:
        storage = self._storages.get(artifact.storage_id)
        if storage is None:
            storage = self._storages[artifact.storage_id] = artifact.storage
        namespace, name = dataset_address(storage.root, artifact)
        version = dataset_version_dataset.DatasetVersionDatasetFacet(
            datasetVersion=artifact.uid, producer=PRODUCER)
        return namespace, name, {"version": version}

    def input(self, artifact: Artifact) -> InputDataset:
        """An artifact read by a run."""
        namespace, name, facets = self._address(artifact)
        return InputDataset(namespace=namespace, name=name, facets=facets)

    def output(self, artifact: Artifact) -> OutputDataset:
        """An artifact written by a run."""
        namespace, name, facets = self._address(artifact)
        return OutputDataset(namespace=namespace, name=name, facets=facets)

    def event(self, run: Run, state: RunState, at: datetime, inputs: list[Artifact],
              outputs: list[Artifact]) -> RunEvent:
        """One RunEvent of ``run`` in ``state`` at time ``at``."""
        parent = self.parent_facet(run)
        return RunEvent(
            eventType=state,
            eventTime=at.isoformat(),
            run=OLRun(runId=run_uuid(run.uid), facets={"parent": parent} if parent else {}),
            job=self.job(run),
            inputs=[self.input(a) for a in inputs],
            outputs=[self.output(a) for a in outputs],
            producer=PRODUCER,
        )


def terminal_state(status: str) -> RunState | None:
    """COMPLETE, FAIL or ABORT for a finished run's status; None while it is not finished."""
    return TERMINAL_STATES.get(status)

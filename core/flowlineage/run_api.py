"""Behaviour of ``Run``: status, navigation to related records, features, context manager."""

from __future__ import annotations

from types import TracebackType
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import select

from .errors import ValidationError

if TYPE_CHECKING:
    import os

    from .lineage import Lineage
    from .models import Artifact, Collection, Project, Run, Transform, ULabel
    from .query import QuerySet


class RunMixin:
    """Methods of ``Run``; columns are declared in ``models.Run``."""

    id: int
    transform_id: int
    initiated_by_run_id: int | None
    report_id: int | None
    environment_id: int | None
    _status_code: int

    def __init__(self, transform: Transform | None = None, **fields: Any) -> None:
        if transform is not None:
            fields["transform_id"] = transform.id
        initiated_by = fields.pop("initiated_by_run", None)
        if initiated_by is not None:
            fields["initiated_by_run_id"] = initiated_by.id
        if "status" in fields:
            from .models import status_code

            fields["_status_code"] = status_code(fields.pop("status"))
        for key, value in fields.items():
            if not hasattr(type(self), key):
                raise ValidationError(f"Run has no field {key!r}")
            setattr(self, key, value)

    @property
    def status(self) -> str:
        """The status name: scheduled, restarted, started, completed, errored or aborted."""
        from .models import STATUS_NAMES

        return STATUS_NAMES.get(self._status_code, str(self._status_code))

    @status.setter
    def status(self, value: str | int) -> None:
        from .models import status_code

        self._status_code = status_code(value)

    @property
    def transform(self) -> Transform:
        """The transform this run executed."""
        from .models import Transform

        return Transform.get(self.transform_id)

    @property
    def initiated_by_run(self) -> Run | None:
        """The run that started this one (a flow for a task, a workflow for a job)."""
        from .models import Run

        rid = self.initiated_by_run_id
        return None if rid is None else Run.get(rid)

    @property
    def initiated_runs(self) -> QuerySet[Run]:
        """Runs this run started."""
        from .models import Run

        return Run.filter(initiated_by_run_id=self.id)

    @property
    def input_artifacts(self) -> QuerySet[Artifact]:
        """Artifacts this run read."""
        from .models import Artifact, _through, run_input_artifact

        return _through(Artifact, run_input_artifact, "run_id", "artifact_id", self.id)

    @property
    def output_artifacts(self) -> QuerySet[Artifact]:
        """Artifacts this run created."""
        from .models import Artifact

        return Artifact.filter(run_id=self.id)

    @property
    def recreated_artifacts(self) -> QuerySet[Artifact]:
        """Artifacts this run saved again with content identical to an existing one."""
        from .models import Artifact, _through, artifact_recreating_run

        return _through(Artifact, artifact_recreating_run, "run_id", "artifact_id", self.id)

    def query_output_artifacts(self, include_recreated: bool = False) -> QuerySet[Artifact]:
        """Artifacts this run created, and those it recreated when ``include_recreated``."""
        from .models import Artifact, artifact_recreating_run

        if not include_recreated:
            return self.output_artifacts
        recreated = select(artifact_recreating_run.c.artifact_id).where(
            artifact_recreating_run.c.run_id == self.id
        )
        return Artifact.filter((Artifact.run_id == self.id) | Artifact.id.in_(recreated))

    @property
    def input_collections(self) -> QuerySet[Collection]:
        """Collections this run read."""
        from .models import Collection, _through, run_input_collection

        return _through(Collection, run_input_collection, "run_id", "collection_id", self.id)

    @property
    def output_collections(self) -> QuerySet[Collection]:
        """Collections this run created."""
        from .models import Collection

        return Collection.filter(run_id=self.id)

    @property
    def projects(self) -> QuerySet[Project]:
        """Projects this run belongs to."""
        from .models import Project, _through, run_project

        return _through(Project, run_project, "run_id", "project_id", self.id)

    @property
    def ulabels(self) -> QuerySet[ULabel]:
        """Labels of this run."""
        from .models import ULabel, _through, run_ulabel

        return _through(ULabel, run_ulabel, "run_id", "ulabel_id", self.id)

    @property
    def report(self) -> Artifact | None:
        """The run's report artifact, if any."""
        from .models import Artifact

        return None if self.report_id is None else Artifact.get(self.report_id)

    @property
    def environment(self) -> Artifact | None:
        """The artifact listing the Python packages the run used, if any."""
        from .models import Artifact

        return None if self.environment_id is None else Artifact.get(self.environment_id)

    @property
    def features(self) -> RunFeatures:
        """Typed feature values of this run: ``run.features.set_values({...})``."""
        return RunFeatures(self.id)

    def upstream(self, depth: int | None = None) -> Lineage:
        """Every run and artifact this run came from (one recursive query)."""
        from .lineage import walk

        return walk("run", self.id, "upstream", depth)

    def downstream(self, depth: int | None = None) -> Lineage:
        """Every run and artifact derived from this run (one recursive query)."""
        from .lineage import walk

        return walk("run", self.id, "downstream", depth)

    def view_lineage(self, format: str = "text", path: str | os.PathLike[str] | None = None,
                     direction: str = "upstream", depth: int | None = None) -> str:
        """The lineage as text, mermaid, dot, json or html; also written to ``path`` if given."""
        from .render import view_lineage

        return view_lineage(cast("Run", self), format, path, direction, depth)

    def __enter__(self) -> Run:
        return self  # type: ignore[return-value]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        from .tracking import end_run

        if exc_type is None:
            end_run(self, "completed")  # type: ignore[arg-type]
        elif issubclass(exc_type, KeyboardInterrupt):
            end_run(self, "aborted")  # type: ignore[arg-type]
        else:
            end_run(self, "errored")  # type: ignore[arg-type]


class RunFeatures:
    """Feature values of one run, stored typed in ``run_feature_value``."""

    def __init__(self, run_id: int) -> None:
        self.run_id = run_id

    def set_values(self, values: dict[str, Any]) -> None:
        """Set (insert or replace) feature values; numbers stay queryable as numbers."""
        from .ingest import set_run_features

        set_run_features({self.run_id: values})

    def get_values(self) -> dict[str, Any]:
        """All feature values of the run, by name."""
        from .instance import get_instance
        from .models import RunFeatureValue

        stmt = select(RunFeatureValue.name, RunFeatureValue.value).where(
            RunFeatureValue.run_id == self.run_id
        )
        with get_instance().read() as s:
            return {name: value for name, value in s.execute(stmt)}

"""The contract every orchestrator adapter keeps, as one suite each adapter's tests subclass
(like ``StorageBackendSuite`` for storage backends, or fsspec's abstract test suites).

A subclass says what its adapter records (``top_reference_type``, ``child_reference_types``,
``statuses`` as DESIGN §4 maps them) and gives hooks that make the orchestrator do real work:

- ``record_sample(tmp_path)``: a small real workflow reading at least one file and writing one;
- ``record_again(tmp_path)``: record the same work once more (re-ingest the same file, re-run
  the workflow, deliver the same events again);
- ``record_statuses(tmp_path)``: work ending in each orchestrator status of ``statuses``,
  returning ``{orchestrator status: id of the Run recorded for it}``;
- ``malformed_input(tmp_path)``: a broken input and how to feed it (``Malformed``).

Where one of these has no meaning for an adapter, the subclass says so in a class attribute
with its reason (``malformed_input_has_no_meaning``, ``runs_added_by_recording_again``);
the suite checks the reason is given and the hook is not, instead of skipping.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import flowlineage as fl
import pytest
from flowlineage.db.engine import Instance, get_instance
from flowlineage.db.tables import metadata
from flowlineage.errors import FlowlineageError
from sqlalchemy import func, select

RUN_STATUSES = frozenset({"completed", "errored", "aborted", "restarted"})


@dataclass
class Malformed:
    """A broken input: ``record()`` feeds it to the adapter, which must raise a
    ``FlowlineageError`` whose message names ``source``, ``line`` (when known) and ``field``."""

    record: Callable[[], object]
    source: str
    line: int | None
    field: str


def row_counts() -> dict[str, int]:
    """Rows of every table of the store."""
    with get_instance().read() as s:
        return {t.name: int(s.scalar(select(func.count()).select_from(t)) or 0)
                for t in metadata.sorted_tables}


class AdapterContractSuite:
    """What every adapter must do; subclasses set the attributes and implement the hooks."""

    top_reference_type: ClassVar[str]
    """``reference_type`` of the run of a whole workflow (flow run, invocation, ...)."""
    child_reference_types: ClassVar[tuple[str, ...]]
    """``reference_type`` of the runs inside it (tasks, jobs, subflows)."""
    statuses: ClassVar[dict[str, str]]
    """Orchestrator status -> flowlineage status, as DESIGN §4 maps them."""
    runs_added_by_recording_again: ClassVar[int] = 0
    runs_added_reason: ClassVar[str] = ""
    """Why recording again adds runs when the orchestrator itself counts a re-run as a run of
    its own (only top runs with nothing inside; artifacts and links never change)."""
    malformed_input_has_no_meaning: ClassVar[str] = ""
    """Why the adapter takes no input that could be malformed (then no ``malformed_input``)."""

    @pytest.fixture(autouse=True)
    def _store(self, instance: Instance) -> Instance:
        """Each contract test on a fresh SQLite store."""
        return instance

    # ---------------------------------------------------------------- hooks

    def record_sample(self, tmp_path: Path) -> None:
        raise NotImplementedError

    def record_again(self, tmp_path: Path) -> None:
        raise NotImplementedError

    def record_statuses(self, tmp_path: Path) -> dict[str, int]:
        raise NotImplementedError

    def malformed_input(self, tmp_path: Path) -> Malformed:
        raise NotImplementedError

    # ---------------------------------------------------------------- the contract

    def _adapter_runs(self) -> list[fl.Run]:
        types = [self.top_reference_type, *self.child_reference_types]
        return list(fl.Run.filter(reference_type__in=types).all())

    def test_recording_again_adds_nothing(self, tmp_path: Path) -> None:
        self.record_sample(tmp_path)
        before = row_counts()
        tops = {r.id for r in fl.Run.filter(reference_type=self.top_reference_type).all()}
        self.record_again(tmp_path)
        after = row_counts()
        added = self.runs_added_by_recording_again
        assert not added or self.runs_added_reason, "say why recording again adds runs"
        assert after == {**before, "run": before["run"] + added}
        new = [r for r in fl.Run.filter(reference_type=self.top_reference_type).all()
               if r.id not in tops]
        assert len(new) == added and all(r.initiated_runs.count() == 0 for r in new)

    def test_statuses_map_as_designed(self, tmp_path: Path) -> None:
        assert set(self.statuses.values()) <= RUN_STATUSES
        recorded = self.record_statuses(tmp_path)
        assert set(recorded) == set(self.statuses), "every mapped status is exercised"
        assert {s: fl.Run.get(rid).status for s, rid in recorded.items()} == self.statuses

    def test_child_runs_chain_up_to_one_top_run(self, tmp_path: Path) -> None:
        self.record_sample(tmp_path)
        children = fl.Run.filter(reference_type__in=list(self.child_reference_types)).all()
        assert children, "the sample records runs inside the workflow"
        tops = set()
        for run in children:
            seen = {run.id}
            while run.initiated_by_run_id is not None:
                run = fl.Run.get(run.initiated_by_run_id)
                assert run.id not in seen, "initiated_by_run goes round in a circle"
                seen.add(run.id)
            tops.add(run.id)
        (top,) = tops
        assert fl.Run.get(top).reference_type == self.top_reference_type

    def test_inputs_and_outputs_are_recorded(self, tmp_path: Path) -> None:
        self.record_sample(tmp_path)
        runs = self._adapter_runs()
        ids = {r.id for r in runs}
        inputs = [a for r in runs for a in r.input_artifacts.all()]
        outputs = [a for r in runs for a in r.output_artifacts.all()]
        assert outputs and all(a.run_id in ids for a in outputs)
        assert any(a.run_id not in ids for a in inputs), "a file from outside is an input"

    def test_malformed_input_is_located_and_writes_nothing(self, tmp_path: Path) -> None:
        hook_given = type(self).malformed_input is not AdapterContractSuite.malformed_input
        if self.malformed_input_has_no_meaning:
            assert not hook_given, "an adapter without malformed input gives no such hook"
            return
        assert hook_given, "give malformed_input, or malformed_input_has_no_meaning"
        self.record_sample(tmp_path / "sample")
        bad = self.malformed_input(tmp_path / "bad")
        before = row_counts()
        with pytest.raises(FlowlineageError) as info:
            bad.record()
        message = str(info.value)
        for part in (bad.source, bad.line, bad.field):
            assert part is None or str(part) in message, (part, message)
        assert row_counts() == before

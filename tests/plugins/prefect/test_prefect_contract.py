"""The adapter contract for Prefect: real flows on the session's Prefect server."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import flowlineage as fl
import pytest
from adapter_contract import AdapterContractSuite
from flowlineage_prefect import FLOW_RUN, TASK_RUN, flow, task
from flowlineage_prefect._adapter import _MARK
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State

from .prefect_flows import Stop, cached_flow, crashing_flow


@task
def shout(data: Path, out_dir: str) -> Path:
    out = Path(out_dir) / "shout.txt"
    out.write_text(data.read_text().upper())
    return out


@flow
def shouting(data: Path, out_dir: str) -> Path:
    return shout(data, out_dir)


@flow
def contract_flow(data: Path, out_dir: str) -> Path:
    """A flow running a subflow running a task: data in, a file out."""
    return shouting(data, out_dir)


@flow
def failing_flow() -> None:
    raise RuntimeError("fails")


def _run_id(state: State[Any]) -> int:
    return fl.Run.get(reference=str(state.state_details.flow_run_id), reference_type=FLOW_RUN).id


class TestPrefectContract(AdapterContractSuite):
    top_reference_type = FLOW_RUN
    child_reference_types = (FLOW_RUN, TASK_RUN)  # subflows count as children
    statuses = {"Completed": "completed", "Failed": "errored", "Crashed": "aborted",
                "Cached": "completed"}  # Retrying -> restarted is a status while retrying:
    # test_retried_flow_is_restarted_then_completed
    malformed_input_has_no_meaning = (
        "the adapter reads no file or event stream: Prefect hands it the Python objects of "
        "runs in progress; arguments a flow rejects are Prefect's error, recorded as an "
        "errored run (test_invalid_parameters_still_recorded)")

    def record_sample(self, tmp_path: Path) -> None:
        tmp_path.mkdir(exist_ok=True)
        data = tmp_path / "data.txt"
        data.write_text("quiet\n")
        self.sample: State[Path] = contract_flow(data, str(tmp_path), return_state=True)
        assert self.sample.result().read_text() == "QUIET\n"

    def record_again(self, tmp_path: Path) -> None:
        """Prefect delivers the end of the flow run again (as when a hook is re-run)."""
        with get_client(sync_client=True) as client:
            api_run = client.read_flow_run(self.sample.state_details.flow_run_id)
        getattr(contract_flow.fn, _MARK).finish(contract_flow, api_run, self.sample)

    def record_statuses(self, tmp_path: Path) -> dict[str, int]:
        self.record_sample(tmp_path)
        failed = failing_flow(return_state=True)
        assert failed.is_failed()
        with pytest.raises(Stop):
            crashing_flow()
        crashed = fl.Transform.get(key=f"prefect:{crashing_flow.fn.__module__}.crashing_flow")
        token = uuid.uuid4().hex
        cached_flow(token, tmp_path)
        cached, state_name = cached_flow(token, tmp_path)
        assert state_name == "Cached"
        return {"Completed": _run_id(self.sample), "Failed": _run_id(failed),
                "Crashed": fl.Run.get(transform_id=crashed.id).id,
                "Cached": fl.Run.get(reference=cached, reference_type=TASK_RUN).id}

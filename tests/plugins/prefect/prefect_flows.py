"""Flows shared by the Prefect adapter tests: one that crashes, one with a cached task."""

from __future__ import annotations

from pathlib import Path

from flowlineage_prefect import flow, task


class Stop(BaseException):
    """Not an Exception: Prefect reports the run as Crashed."""


@task
def crashing() -> None:
    raise Stop()


@flow
def crashing_flow() -> None:
    crashing()


@task(persist_result=True, cache_key_fn=lambda ctx, params: f"fl-{params['token']}")
def cached_write(token: str, out_dir: Path) -> Path:
    out = out_dir / "cached.txt"
    out.write_text(f"content {token}")
    return out


@flow
def cached_flow(token: str, out_dir: Path) -> tuple[str, str]:
    state = cached_write(token, out_dir, return_state=True)
    return str(state.state_details.task_run_id), state.name or ""

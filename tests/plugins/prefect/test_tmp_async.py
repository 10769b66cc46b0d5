from __future__ import annotations
import asyncio
import prefect
from prefect.utilities.asyncutils import run_coro_as_sync


@prefect.task
async def t(i: int) -> int:
    await asyncio.sleep(0.01)
    return i


@prefect.flow
async def f(n: int) -> list[int]:
    return list(await asyncio.gather(*(t(i) for i in range(n))))


def test_plain_async() -> None:
    assert run_coro_as_sync(f(3)) == [0, 1, 2]

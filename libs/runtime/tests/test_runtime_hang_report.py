"""Where each pending task waits, innermost await last: the suite's hang report, and the log of a task a stop
left behind."""

import asyncio

from esap_runtime.stopping import await_chain


async def _innermost(event: asyncio.Event) -> None:
    await event.wait()


async def _outer(event: asyncio.Event) -> None:
    await _innermost(event)


async def test_the_await_chain_of_a_blocked_task_names_every_coroutine_down_to_the_wait() -> None:
    event = asyncio.Event()
    task = asyncio.create_task(_outer(event))
    await asyncio.sleep(0)
    chain = await_chain(task)
    functions = [line.rsplit(" in ", 1)[1] for line in chain]
    assert functions == ["_outer", "_innermost", "wait"]
    assert chain[0].strip().startswith(__file__)
    event.set()
    await task
    assert await_chain(task) == []  # a finished task waits nowhere

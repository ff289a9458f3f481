"""Stopping background tasks within a bound: cancelled tasks end, one that swallows its cancellation is left
behind and named with where it waits, and an error a task had ended with is logged, not raised."""

import asyncio
import time

from structlog.testing import capture_logs

from esap_runtime.stopping import cancel_and_wait


async def obedient() -> None:
    await asyncio.sleep(3600)


async def stubborn(stop: asyncio.Event) -> None:
    while not stop.is_set():
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            continue  # swallows every cancellation: only ``stop`` ends it


async def test_cancelled_tasks_end_and_nothing_is_left() -> None:
    tasks = [asyncio.create_task(obedient()) for _ in range(3)]
    await asyncio.sleep(0)
    assert await cancel_and_wait(tasks, within=5) == []
    assert all(task.cancelled() for task in tasks)


async def test_a_task_that_swallows_its_cancellation_is_left_behind_named_with_where_it_waits() -> None:
    stop = asyncio.Event()
    ignoring = asyncio.create_task(stubborn(stop), name="ignores-cancel")
    polite = asyncio.create_task(obedient(), name="polite")
    await asyncio.sleep(0)
    started = time.monotonic()
    with capture_logs() as logs:
        left = await cancel_and_wait([polite, ignoring], within=0.2)
    assert time.monotonic() - started < 2
    assert left == [ignoring] and polite.cancelled() and not ignoring.done()
    [entry] = [e for e in logs if e["event"].startswith("A task did not stop")]
    assert entry["task"] == "ignores-cancel"
    assert any("in stubborn" in line for line in entry["waits_at"])
    stop.set()
    ignoring.cancel()
    await asyncio.wait([ignoring])


async def test_an_error_a_task_ended_with_is_logged_not_raised() -> None:
    async def failing() -> None:
        raise RuntimeError("broken")

    task = asyncio.create_task(failing(), name="failing")
    await asyncio.wait([task])
    with capture_logs() as logs:
        assert await cancel_and_wait([task]) == []
    assert [(e["task"], e["error"]) for e in logs] == [("failing", "RuntimeError('broken')")]

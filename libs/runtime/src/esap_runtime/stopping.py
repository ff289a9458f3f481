"""Stopping background tasks within a bound. A task that does not end once cancelled (an await that swallows the
cancellation, a library call stuck on its peer) is logged, with where it waits, and left behind: a service's stop,
and a test's teardown, must not hang on it.

Depends on the standard library and structlog only.
"""

import asyncio
from collections.abc import Iterable
from typing import Any

import structlog

log = structlog.get_logger("esap.stopping")

STOP_SECONDS = 5.0
"""How long cancelled tasks get to end before they are left behind."""


def await_chain(task: "asyncio.Task[Any]") -> list[str]:
    """Where a suspended task waits: each coroutine of its await chain, outermost first, as 'file:line in name'."""
    lines = []
    awaited: object = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is not None:
            lines.append(f"{frame.f_code.co_filename}:{frame.f_lineno} in {frame.f_code.co_name}")
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return lines


async def cancel_and_wait(tasks: Iterable["asyncio.Task[Any]"], within: float = STOP_SECONDS
                          ) -> list["asyncio.Task[Any]"]:
    """Cancel the tasks and wait up to ``within`` seconds for them to end; returns those still running, each
    logged with where it waits. A task that ended with an error is logged too (its error is not raised: the stop
    goes on)."""
    tasks = list(tasks)
    running = [task for task in tasks if not task.done()]
    for task in running:
        task.cancel()
    left: set[asyncio.Task[Any]] = set()
    if running:
        _, left = await asyncio.wait(running, timeout=within)
    for task in tasks:
        if task.done() and not task.cancelled() and task.exception() is not None:
            log.warning("A task had ended with an error.", task=task.get_name(), error=repr(task.exception()))
    for task in left:
        log.error("A task did not stop once cancelled; left behind.", task=task.get_name(), within=within,
                  waits_at=await_chain(task))
    return sorted(left, key=lambda task: task.get_name())

"""WAIT in the gateway itself: requests park on futures that the bus' phase changes resolve, so thousands of
waiters hold no catalog request and no database connection; each reads its job once per change.

A request registers its future BEFORE it reads the job, so a change announced between the read and the wait
still wakes it. A wake-up only says "read again". When the subscription is down, ``JobService`` falls back to
the catalog's own blocking read.
Must not depend on FastAPI or on a concrete client.
"""

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from uuid import UUID

from esap_messages import WAITABLE_PHASES, Phase
from esap_messages.api import JobView
from esap_runtime.waiters import WaiterRegistry


async def wait_for_change(registry: WaiterRegistry, job_id: UUID, read: Callable[[], Awaitable[JobView]], *,
                          seconds: float, phase: Phase | None,
                          monotonic: Callable[[], float] = time.monotonic) -> JobView:
    """The job once it left ``phase`` (or the phase it had when first read), or when ``seconds`` ran out."""
    deadline = monotonic() + seconds
    target = phase
    while True:
        future = registry.register(job_id)
        try:
            view = await read()
            target = target or view.phase
            remaining = deadline - monotonic()
            if view.phase is not target or view.phase not in WAITABLE_PHASES or remaining <= 0:
                return view
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(future, remaining)
        finally:
            registry.unregister(job_id, future)

"""Blocking reads (UWS WAIT) without polling: requests park on futures that job change notifications resolve.

A request registers its future BEFORE it reads the job, so a change committed between the read and the wait
still wakes it. A wake-up only says "read again": the request re-reads and decides whether to keep waiting.
A job id made moments ago (UUIDv7 carries its time) may not be stored yet: a read that asks for the grace waits
for it to appear for up to ``creation_grace`` seconds after its creation, so a GET right after the gateway's 303
finds the job; a job that was stored and deleted since is answered as unknown at once. Only the gateway's reads
of a creation it sent and has not seen stored ask for it: a made-up id stamped "now" costs nothing.
Depends on the domain and storage.
"""

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from uuid import UUID

from esap_messages import WAITABLE_PHASES, Phase
from esap_messages.api import JobView
from esap_runtime.waiters import WaiterRegistry


def uuid7_age(job_id: UUID, now: float) -> float | None:
    """Seconds since a UUIDv7 was made (its first 48 bits are Unix milliseconds); None for other ids."""
    if job_id.version != 7:
        return None
    return now - (job_id.int >> 80) / 1000.0


class JobWaiter:
    """Reads a job, blocking as WAIT asks: until it leaves a phase, or appears, or the time is up."""

    def __init__(self, read: Callable[[UUID], Awaitable[JobView | None]], registry: WaiterRegistry, *,
                 max_wait: float, creation_grace: float, wall_clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic,
                 deleted: Callable[[UUID], Awaitable[bool]] | None = None) -> None:
        self._read = read
        self._deleted = deleted
        self._registry = registry
        self._max_wait = max_wait
        self._grace = creation_grace
        self._wall_clock = wall_clock
        self._monotonic = monotonic

    def _appearance_budget(self, job_id: UUID) -> float:
        age = uuid7_age(job_id, self._wall_clock())
        if age is None:
            return 0.0
        return min(self._grace, self._grace - age)

    async def get(self, job_id: UUID, *, wait: float | None = None, phase: Phase | None = None,
                  accept: Callable[[JobView], bool] = lambda _view: True, grace: bool = True) -> JobView | None:
        """The job; with ``wait`` (seconds, negative for the longest allowed), once it left ``phase`` (or the
        phase it had when first read), or the time ran out. None when it does not exist (with ``grace``, once a
        job just created had its time to appear). A job ``accept`` refuses (another owner's) is answered at once,
        never waited on."""
        start = self._monotonic()
        budget = None if wait is None else (self._max_wait if wait < 0 else min(wait, self._max_wait))
        appearance = self._appearance_budget(job_id) if grace else 0.0
        target = phase
        while True:
            future = self._registry.register(job_id)
            try:
                view = await self._read(job_id)
                if view is not None and not accept(view):
                    return view
                elapsed = self._monotonic() - start
                if view is None:
                    timeout = appearance - elapsed
                    if timeout <= 0 or (self._deleted is not None and await self._deleted(job_id)):
                        return None
                else:
                    target = target or view.phase
                    if budget is None or view.phase is not target or view.phase not in WAITABLE_PHASES:
                        return view
                    timeout = budget - elapsed
                    if timeout <= 0:
                        return view
                with contextlib.suppress(TimeoutError):  # then read once more: the answer is the job as it is
                    await asyncio.wait_for(future, timeout)
            finally:
                self._registry.unregister(job_id, future)

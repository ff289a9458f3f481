"""Workflows and facilities read from the catalog, kept in memory for a few seconds.

Job creation consults them on every request; the cache makes that a dictionary lookup. Concurrent misses for
one slug share a single catalog request, and "unknown" is remembered as well (for the same few seconds), so a
burst of requests costs the catalog one round trip per slug per period. Failures are not cached.
Must not depend on anything but the catalog port (its Protocol) and esap_messages.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

from esap_gateway.adapters.catalog import CatalogClient
from esap_messages.api import FacilityView, PlanningStatistics, WorkflowView

T = TypeVar("T")
Clock = Callable[[], float]
MAX_ENTRIES = 4096


class _TtlCache(Generic[T]):
    def __init__(self, load: Callable[[str], Awaitable[T | None]], ttl: float, clock: Clock) -> None:
        self._load = load
        self._ttl = ttl
        self._clock = clock
        self._entries: dict[str, tuple[float, T | None]] = {}
        self._loading: dict[str, asyncio.Task[T | None]] = {}

    async def get(self, key: str) -> T | None:
        entry = self._entries.get(key)
        if entry is not None and entry[0] > self._clock():
            return entry[1]
        task = self._loading.get(key)
        if task is None:
            task = asyncio.create_task(self._fetch(key))
            self._loading[key] = task
            task.add_done_callback(_retrieve)
        return await asyncio.shield(task)

    async def _fetch(self, key: str) -> T | None:
        try:
            value = await self._load(key)
        finally:
            del self._loading[key]
        if self._ttl > 0:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (self._clock() + self._ttl, value)
        return value


def _retrieve(task: asyncio.Task[T | None]) -> None:
    """Mark a failure as seen even when every waiter went away, so it is not reported as lost."""
    if not task.cancelled():
        task.exception()


class CatalogueCache:
    def __init__(self, catalog: CatalogClient, *, ttl: float, clock: Clock = time.monotonic) -> None:
        self._workflows = _TtlCache[WorkflowView](catalog.get_workflow, ttl, clock)
        self._facilities = _TtlCache[FacilityView](catalog.get_facility, ttl, clock)
        self._statistics = _TtlCache[PlanningStatistics](catalog.planning_statistics, ttl, clock)

    async def workflow(self, slug: str) -> WorkflowView | None:
        return await self._workflows.get(slug)

    async def facility(self, slug: str) -> FacilityView | None:
        return await self._facilities.get(slug)

    async def statistics(self, workflow: str) -> PlanningStatistics | None:
        """Every facility with its recent times for ``workflow``: planning's input, shared by a burst."""
        return await self._statistics.get(workflow)

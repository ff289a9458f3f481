"""The jobs' read API: one job (optionally waiting for it to change), listings, and the monitor's active set.

Depends on storage and the waiting machinery.
"""

from datetime import datetime
from uuid import UUID

from esap_catalog.services.waiting import JobWaiter
from esap_catalog.storage.views import JobViewStore
from esap_messages import Phase
from esap_messages.api import ActiveJobList, JobList, JobView


class JobQueryService:
    def __init__(self, store: JobViewStore, waiter: JobWaiter, *, list_limit: int) -> None:
        self._store = store
        self._waiter = waiter
        self._list_limit = list_limit

    async def job(self, job_id: UUID, *, wait: float | None = None, phase: Phase | None = None) -> JobView | None:
        return await self._waiter.get(job_id, wait=wait, phase=phase)

    async def jobs(self, *, owner: str | None = None, phases: list[Phase] | None = None,
                   after: datetime | None = None, last: int | None = None, limit: int | None = None) -> JobList:
        """Newest first; ``last`` and ``limit`` both cap the count (the smaller wins, never above list_limit)."""
        cap = min(x for x in (last, limit, self._list_limit) if x is not None)
        summaries = await self._store.jobs(owner=owner, phases=phases or [], after=after, limit=cap)
        return JobList(jobs=summaries)

    async def active_jobs(self) -> ActiveJobList:
        return ActiveJobList(jobs=await self._store.active_jobs())

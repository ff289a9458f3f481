"""The jobs' read API: one job (optionally waiting for it to change), many jobs at once, listings, and the
monitor's active set.

Ownership is enforced here as well as in the gateway: a read scoped to an owner (None meaning anonymous) finds
only that owner's jobs, and a listing is filtered by owner in SQL. Listings page with a stable cursor: the
(creation time, id) of the last job of a page, which no later change can move.
Depends on storage and the waiting machinery.
"""

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from uuid import UUID

from esap_catalog.services.waiting import JobWaiter
from esap_catalog.storage.views import JobFilter, JobViewStore
from esap_messages import Phase
from esap_messages.api import (
    ActiveJobList,
    ChildList,
    JobList,
    JobRead,
    JobReadOutcome,
    JobSummaryView,
    JobView,
    UsageView,
)

__all__ = ["EVERYONE", "InvalidCursorError", "JobFilter", "JobQueryService", "NotOwnerError", "Scope"]


class InvalidCursorError(ValueError):
    """The cursor was not made by this catalog."""


class NotOwnerError(Exception):
    """The job exists but is not the scope's owner's."""


@dataclass(frozen=True)
class Scope:
    """Whose jobs a request may see: everyone's (internal callers) or one owner's (None: anonymous jobs)."""

    scoped: bool = False
    owner: str | None = None

    def allows(self, view: JobView | JobSummaryView) -> bool:
        return not self.scoped or view.owner == self.owner


EVERYONE = Scope()


def encode_cursor(job: JobSummaryView) -> str:
    raw = f"{job.creation_time.isoformat()}|{job.job_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        instant, job_id = raw.split("|")
        when = datetime.fromisoformat(instant)
        if when.tzinfo is None:
            raise ValueError("naive time")
        return when, UUID(job_id)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursorError(f"not a cursor of this service: {cursor[:100]!r}") from None


class JobQueryService:
    def __init__(self, store: JobViewStore, waiter: JobWaiter, *, list_limit: int, quota: int = 1000) -> None:
        self._quota = quota
        self._store = store
        self._waiter = waiter
        self._list_limit = list_limit

    async def job(self, job_id: UUID, *, wait: float | None = None, phase: Phase | None = None,
                  scope: Scope = EVERYONE, grace: bool = False) -> JobView | None:
        """None when unknown (with ``grace``, once a job just created had time to be stored); raises NotOwnerError
        for another owner's job (never waiting on it)."""
        view = await self._waiter.get(job_id, wait=wait, phase=phase, accept=scope.allows, grace=grace)
        if view is not None and not scope.allows(view):
            raise NotOwnerError(f"job {job_id} is not the caller's")
        return view

    async def children(self, job_id: UUID, *, scope: Scope = EVERYONE, offset: int = 0,
                       limit: int | None = None) -> ChildList | None:
        """A campaign's table of children (``limit`` rows from ``offset``: a page); None when there is no such job;
        a single job's is empty."""
        summary = await self._store.summary(job_id)  # its owner and size, not its whole view
        if summary is None:
            return None
        if not scope.allows(summary):
            raise NotOwnerError(f"job {job_id} is not the caller's")
        if not summary.children:
            return ChildList(children=[], total=0, offset=offset)
        rows = await self._store.children(job_id, offset, limit)
        return ChildList(children=rows, total=summary.children, offset=offset)

    async def read_many(self, reads: Sequence[JobRead]) -> list[JobReadOutcome]:
        """Each read answered in order, never waiting: the job, nothing when unknown, ``foreign`` when it is not
        the reader's."""
        found = await self._store.jobs_by_id(list({read.job_id: None for read in reads}))
        outcomes = []
        for read in reads:
            view = found.get(read.job_id)
            if view is not None and view.owner != read.owner:
                outcomes.append(JobReadOutcome(foreign=True))
            else:
                outcomes.append(JobReadOutcome(job=view))
        return outcomes

    async def jobs(self, where: JobFilter, *, last: int | None = None, limit: int | None = None,
                   cursor: str | None = None) -> JobList:
        """Newest first; ``last`` and ``limit`` both cap the count (the smaller wins, never above list_limit).
        ``next_cursor`` is set when more jobs match than this page holds."""
        cap = min(x for x in (last, limit, self._list_limit) if x is not None)
        if cursor is not None:
            where = replace(where, before=decode_cursor(cursor))
        summaries = await self._store.jobs(where, limit=cap + 1)
        page = summaries[:cap]
        more = len(summaries) > cap
        return JobList(jobs=page, next_cursor=encode_cursor(page[-1]) if more and page else None)

    async def usage(self, owner: str) -> UsageView:
        """An owner's active and held jobs, and the quota; the anonymous owner is ''."""
        active, waiting = await self._store.usage(owner)
        return UsageView(owner=owner, active=active, waiting=waiting, quota=self._quota)

    async def active_jobs(self) -> ActiveJobList:
        return ActiveJobList(jobs=await self._store.active_jobs())

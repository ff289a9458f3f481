"""Keeps the tracker in step with the catalog: the first full read (retried with backoff until the catalog
answers; the monitor is not ready before), a re-read every ``resync_seconds``, and one soon after ``request``
(a job came from a facility added since the last read), at most one per REQUEST_SPACING_SECONDS.

Depends on a catalog reader (anything with ``active_jobs`` and ``facilities``) and the tracker; no HTTP here.
"""

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Protocol

import structlog

from esap_messages.api import ActiveJobList, FacilityList
from esap_monitor.adapters.catalog import CatalogUnavailableError
from esap_monitor.metrics import MonitorMetrics
from esap_monitor.services.tracker import Tracker

log = structlog.get_logger("esap.monitor.sync")

FIRST_BACKOFF_SECONDS = 0.1
MAX_BACKOFF_SECONDS = 5.0
REQUEST_SPACING_SECONDS = 1.0


class CatalogReader(Protocol):
    async def active_jobs(self) -> ActiveJobList: ...

    async def facilities(self) -> FacilityList: ...


class CatalogSync:
    def __init__(self, catalog: CatalogReader, tracker: Tracker, metrics: MonitorMetrics, *,
                 resync_seconds: float, on_due: Callable[[], None],
                 clock: Callable[[], float] = time.monotonic,
                 first_backoff: float = FIRST_BACKOFF_SECONDS,
                 request_spacing: float = REQUEST_SPACING_SECONDS) -> None:
        self._catalog = catalog
        self._tracker = tracker
        self._metrics = metrics
        self._resync_seconds = resync_seconds
        self._on_due = on_due
        self._clock = clock
        self._first_backoff = first_backoff
        self.synced = False
        self._requested = asyncio.Event()
        self._spacing = min(request_spacing, resync_seconds)

    async def sync_once(self) -> None:
        """Read the facilities and the active jobs, and make the tracker match; raises CatalogUnavailableError."""
        started = self._clock()
        try:
            facilities = await self._catalog.facilities()
            active = await self._catalog.active_jobs()
        except CatalogUnavailableError:
            self._metrics.catalog_syncs.labels("error").inc()
            raise
        self._metrics.catalog_syncs.labels("ok").inc()
        self._tracker.learn_facilities((f.slug, f.backend) for f in facilities.facilities)
        outcome = self._tracker.resync(active.jobs, started)
        if outcome.unknown_facility:
            log.warning("Jobs submitted on facilities the catalog does not list; not tracked.",
                        jobs=outcome.unknown_facility)
        self.synced = True
        if outcome.republish:
            log.warning("Final statuses not yet taken by the catalog; publishing them again.",
                        jobs=outcome.republish)
        log.info("Synced with the catalog.", listed=len(active.jobs), added=outcome.added, dropped=outcome.dropped,
                 tracked=len(self._tracker))
        if self._tracker.due_count:
            self._on_due()

    async def first_sync(self) -> None:
        """Retry with backoff until the catalog answers."""
        pause = self._first_backoff
        while True:
            try:
                await self.sync_once()
                return
            except CatalogUnavailableError as exc:
                log.warning("Catalog unavailable for the first sync; retrying.", retry_in=pause, error=str(exc))
            await asyncio.sleep(pause)
            pause = min(pause * 2, MAX_BACKOFF_SECONDS)

    def request(self) -> None:
        """Re-read the catalog soon rather than at the next period."""
        self._requested.set()

    async def run(self) -> None:
        """Re-read the catalog every ``resync_seconds``, or sooner when asked; a failed re-read is logged and tried
        at the next one."""
        while True:
            await asyncio.sleep(self._spacing)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._requested.wait(), self._resync_seconds - self._spacing)
            self._requested.clear()
            try:
                await self.sync_once()
            except CatalogUnavailableError as exc:
                log.warning("Catalog resync failed; keeping the jobs tracked so far.", error=str(exc))

"""The polling loop: ask each backend in bulk for all tracked jobs, publish only the statuses that changed.

One ``bulk_status`` call per backend per cycle (chunked only for huge sets), backends polled concurrently, one
``publish_many`` per cycle; a job that ended without its results gets them from its backend first (``results``:
held to the next cycle when they cannot be fetched now), and the changes carry their backend's history of the
job, read in one call per backend. A job report nudges the loop; nudges arriving within a couple of milliseconds
share one call. A failing backend is logged and counted and never stops the loop or the other backends.
Depends on the backends' observing side (``Observing``), the tracker, the result fetcher, the history reader and a
publish callable; knows nothing of AMQP or HTTP.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime
from uuid import UUID

import structlog

from esap_backends import BackendError, BackendStatus, Observing
from esap_messages import Message, utcnow
from esap_monitor.metrics import MonitorMetrics
from esap_monitor.services.history import History, HistoryReader
from esap_monitor.services.observations import to_observation
from esap_monitor.services.results import ResultFetcher
from esap_monitor.services.tracker import PollTarget, Tracker

log = structlog.get_logger("esap.monitor.poller")

Publish = Callable[[Sequence[Message]], Awaitable[None]]
Observed = list[tuple[PollTarget, BackendStatus]]


class StatusPoller:
    def __init__(
        self,
        tracker: Tracker,
        backends: Mapping[str, Observing],
        publish: Publish,
        metrics: MonitorMetrics,
        *,
        interval: float,
        chunk_size: int,
        coalesce_seconds: float,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        history_on_every_change: bool = True,
        results_concurrency: int = 8,
    ) -> None:
        self._tracker = tracker
        self._backends = backends
        self._publish = publish
        self._metrics = metrics
        self._interval = interval
        self._chunk_size = chunk_size
        self._coalesce = coalesce_seconds
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._wake = asyncio.Event()
        self._unsupported: set[str] = set()
        self._histories = HistoryReader(backends, metrics, every_change=history_on_every_change)
        self._results = ResultFetcher(backends, metrics, concurrency=results_concurrency, clock=clock)

    def nudge(self) -> None:
        """Some jobs are due: poll them now rather than at the next cycle."""
        self._wake.set()

    async def run(self) -> None:
        """Poll everything every ``interval``, and due jobs as soon as they are nudged."""
        next_full = self._clock()
        while True:
            remaining = next_full - self._clock()
            if remaining > 0 and await self._woken_within(remaining):
                if self._coalesce:
                    await self._sleep(self._coalesce)
                self._wake.clear()
                await self.poll(due_only=True)
                continue
            self._wake.clear()
            next_full = self._clock() + self._interval
            await self.poll(due_only=False)

    async def _woken_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self._wake.wait(), seconds)
        except TimeoutError:
            return False
        return True

    async def poll(self, *, due_only: bool) -> int:
        """One cycle over all tracked jobs (or only the due ones); returns how many changes were published."""
        batches = self._tracker.take(due_only=due_only)
        if not batches:
            return 0
        polled = await asyncio.gather(*(self._poll_backend(name, targets) for name, targets in batches.items()))
        observed = [pair for pairs in polled for pair in pairs]
        changes = [(target, status) for target, status in observed if self._tracker.is_change(target, status)]
        if changes:
            completed = await self._results.complete(changes)
            changes = completed.changes
            if completed.held:  # neither published nor recorded: the next cycle sees them end again
                observed = [(target, status) for target, status in observed if id(target) not in completed.held]
        histories = await self._histories.read(changes) if changes else {}
        published = await self._publish_changes(changes, histories)
        now = self._clock()
        for target, status in observed if published else self._unchanged(observed, changes):
            self._tracker.record(target, status, now)
        return len(changes) if published else 0

    @staticmethod
    def _unchanged(observed: Observed, changes: Observed) -> Observed:
        changed = {id(target) for target, _ in changes}
        return [(target, status) for target, status in observed if id(target) not in changed]

    async def _publish_changes(self, changes: Observed, histories: Mapping[UUID, History]) -> bool:
        """Publish the changes with confirms; False when the bus failed (the next cycle sees them again)."""
        if not changes:
            return True
        observed_at = self._wall_clock()
        try:
            await self._publish([to_observation(t.job_id, status, observed_at, histories.get(t.job_id),
                                                t.backend_job_id)
                                 for t, status in changes])
        except Exception as exc:
            log.warning("Could not publish status changes; the next cycle retries.", changes=len(changes),
                        error=repr(exc))
            return False
        for _, status in changes:
            self._metrics.status_changes.labels(status.status.value).inc()
        return True

    async def _poll_backend(self, name: str, targets: list[PollTarget]) -> Observed:
        backend = self._backends.get(name)
        if backend is None:
            if name not in self._unsupported:
                self._unsupported.add(name)
                log.error("No backend of this name here; its jobs are not polled.", backend=name,
                          jobs=len(targets))
            return []
        started = time.perf_counter()
        statuses: dict[str, BackendStatus] = {}
        try:
            for first in range(0, len(targets), self._chunk_size):
                chunk = targets[first:first + self._chunk_size]
                statuses.update(await self._ask(backend, name, [t.backend_job_id for t in chunk]))
        except Exception as exc:
            self._log_failure(name, len(targets), exc)
            return []
        finally:
            self._metrics.poll_cycle_seconds.labels(name).observe(time.perf_counter() - started)
        return [(t, statuses[t.backend_job_id]) for t in targets if t.backend_job_id in statuses]

    async def _ask(self, backend: Observing, name: str, ids: list[str]) -> Mapping[str, BackendStatus]:
        try:
            answer = await backend.bulk_status(ids)
        except Exception:
            self._metrics.backend_calls.labels(name, "error").inc()
            raise
        self._metrics.backend_calls.labels(name, "ok").inc()
        return answer

    @staticmethod
    def _log_failure(name: str, jobs: int, exc: Exception) -> None:
        if isinstance(exc, BackendError):
            log.warning("Backend status call failed; the next cycle retries.", backend=name, jobs=jobs,
                        error=str(exc))
        else:
            log.error("Backend status call raised unexpectedly; the next cycle retries.", backend=name,
                      jobs=jobs, error=repr(exc), exc_info=exc)

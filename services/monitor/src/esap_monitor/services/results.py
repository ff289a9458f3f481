"""The results of jobs seen to end: one generic path for every backend, before their final status goes out.

A change to Done or Failed whose status carries no results (DIRAC's: a bulk status never fetches output
sandboxes) gets them from the backend's ``fetch_results``, a bounded number at once. A job whose results cannot
be fetched now (BackendError, or an unexpected failure) is held: it is neither published nor recorded this cycle,
so a later cycle sees it end again and asks again, after a pause that doubles with each failure (1 s up to
60 s: an outage of the sandbox store must not turn every cycle into a wall of timeouts); it never ends without
its results. A job whose results can never be fetched (PermanentBackendError) ends without them, logged.
Depends on esap_backends' protocol types and the monitor's metrics and tracker types; knows nothing of AMQP or
HTTP.
"""

import asyncio
import dataclasses
import time
from collections.abc import Callable, Mapping, Sequence
from uuid import UUID

import structlog

from esap_backends import BackendError, BackendStatus, Observing, PermanentBackendError
from esap_monitor.metrics import MonitorMetrics
from esap_monitor.services.tracker import PollTarget

log = structlog.get_logger("esap.monitor.results")

Observed = list[tuple[PollTarget, BackendStatus]]


@dataclasses.dataclass(frozen=True)
class Completed:
    """The changes ready to publish (results attached), and the targets held back until a later cycle."""

    changes: Observed
    held: frozenset[int]  # id() of each held PollTarget


RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 60.0
FORGET_SECONDS = 3600.0
"""A job's failures are forgotten this long after the last one (it left the tracker without being fetched)."""


@dataclasses.dataclass
class _Failures:
    count: int
    retry_at: float


class ResultFetcher:
    def __init__(self, backends: Mapping[str, Observing], metrics: MonitorMetrics, *, concurrency: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._backends = backends
        self._metrics = metrics
        self._limit = asyncio.Semaphore(max(1, concurrency))
        self._clock = clock
        self._failures: dict[UUID, _Failures] = {}

    async def complete(self, changes: Sequence[tuple[PollTarget, BackendStatus]]) -> Completed:
        """The changes with results fetched for every job that ended without them; those not fetched now held
        (also, without asking, those whose pause after a failure has not run out)."""
        now = self._clock()
        self._forget(now)
        wanted = [i for i, (target, status) in enumerate(changes)
                  if status.awaits_results and target.job.backend in self._backends]
        if not wanted:
            return Completed(list(changes), frozenset())
        held: set[int] = set()
        due = []
        for i in wanted:
            failed = self._failures.get(changes[i][0].job_id)
            if failed is not None and failed.retry_at > now:
                held.add(id(changes[i][0]))
            else:
                due.append(i)
        fetched = await asyncio.gather(*(self._fetch(*changes[i]) for i in due))
        ready = list(changes)
        for index, status in zip(due, fetched, strict=True):
            if status is None:
                held.add(id(changes[index][0]))
            else:
                ready[index] = (changes[index][0], status)
        return Completed([pair for pair in ready if id(pair[0]) not in held], frozenset(held))

    async def _fetch(self, target: PollTarget, status: BackendStatus) -> BackendStatus | None:
        """The status with its results; None when they cannot be fetched now."""
        name = target.job.backend
        try:
            async with self._limit:
                results = await self._backends[name].fetch_results(target.backend_job_id)
        except PermanentBackendError as exc:
            self._failures.pop(target.job_id, None)
            self._metrics.results_fetches.labels(name, "missing").inc()
            log.error("Results of an ended job cannot be fetched; it ends without them.", backend=name,
                      job_id=str(target.job_id), backend_job_id=target.backend_job_id, error=str(exc))
            return status
        except Exception as exc:
            self._metrics.results_fetches.labels(name, "held").inc()
            retry_in = self._failed(target.job_id)
            if isinstance(exc, BackendError):
                log.warning("Results of an ended job not fetched; the job is asked again later.",
                            backend=name, job_id=str(target.job_id), backend_job_id=target.backend_job_id,
                            retry_in=retry_in, error=str(exc))
            else:
                log.error("Fetching the results of an ended job raised unexpectedly; asked again later.",
                          backend=name, job_id=str(target.job_id), retry_in=retry_in, error=repr(exc), exc_info=exc)
            return None
        self._failures.pop(target.job_id, None)
        self._metrics.results_fetches.labels(name, "fetched").inc()
        return dataclasses.replace(status, results=results)

    def _failed(self, job_id: UUID) -> float:
        """Count a failure; the pause before the job is asked again."""
        failed = self._failures.get(job_id)
        count = failed.count + 1 if failed is not None else 1
        pause = min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2.0 ** (count - 1))
        self._failures[job_id] = _Failures(count, self._clock() + pause)
        return pause

    def _forget(self, now: float) -> None:
        stale = [job_id for job_id, failed in self._failures.items() if failed.retry_at + FORGET_SECONDS < now]
        for job_id in stale:
            del self._failures[job_id]

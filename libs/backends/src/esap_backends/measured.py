"""A backend wrapped so that every call is timed and counted by outcome: DIRAC call latency and errors, by
backend and operation, for the operators' dashboards.

The histogram is the caller's (each service names it in its own registry); labels: backend, operation
(submit, kill, bulk_status, changes_since, fetch_results), outcome (ok, transient, permanent). Depends on base.py,
esap_messages and prometheus_client only.
"""

import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import datetime
from typing import TypeVar, cast

from prometheus_client import CollectorRegistry, Histogram

from esap_backends.base import BackendError, BackendStatus, KillOutcome, Observing, PermanentBackendError, Submitting
from esap_messages import ResultFile, SubmitJob

T = TypeVar("T")

CALL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def call_histogram(service: str, registry: CollectorRegistry) -> Histogram:
    return Histogram(
        f"{service}_backend_call_duration_seconds", "Calls to a backend (DIRAC, DiracX, local), by operation and "
        "outcome (ok, transient, permanent).", ["backend", "operation", "outcome"],
        registry=registry, buckets=CALL_BUCKETS,
    )


class MeasuredBackend:
    """Forwards to ``inner``; anything else the inner backend offers (recover, close...) passes through. ``inner``
    may be one side only (the monitor's observing sides): the other side's calls then fail as they would on it."""

    def __init__(self, inner: Submitting | Observing, histogram: Histogram) -> None:
        self.inner = inner
        self.name = inner.name
        self._histogram = histogram

    def __getattr__(self, attribute: str) -> object:
        return getattr(self.inner, attribute)

    async def submit(self, job: SubmitJob) -> str:
        return await self._timed("submit", lambda: self._submitting.submit(job))

    async def kill(self, backend_job_id: str, reason: str) -> KillOutcome:
        return await self._timed("kill", lambda: self._submitting.kill(backend_job_id, reason))

    async def bulk_status(self, backend_job_ids: Iterable[str]) -> Mapping[str, BackendStatus]:
        return await self._timed("bulk_status", lambda: self._observing.bulk_status(backend_job_ids))

    async def changes_since(self, since: datetime, backend_job_ids: Iterable[str]) -> Mapping[str, BackendStatus]:
        return await self._timed("changes_since", lambda: self._observing.changes_since(since, backend_job_ids))

    async def fetch_results(self, backend_job_id: str) -> tuple[ResultFile, ...]:
        return await self._timed("fetch_results", lambda: self._observing.fetch_results(backend_job_id))

    @property
    def _submitting(self) -> Submitting:
        return cast(Submitting, self.inner)

    @property
    def _observing(self) -> Observing:
        return cast(Observing, self.inner)

    async def _timed(self, operation: str, call: Callable[[], Awaitable[T]]) -> T:
        start = time.perf_counter()
        outcome = "ok"
        try:
            return await call()
        except PermanentBackendError:
            outcome = "permanent"
            raise
        except BackendError:
            outcome = "transient"
            raise
        finally:
            self._histogram.labels(self.name, operation, outcome).observe(time.perf_counter() - start)

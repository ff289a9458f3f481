"""The backends' own histories of the jobs whose status changed, read in bulk to go out with the changes.

A backend that keeps a history (DiracX: DIRAC's logging info) offers ``bulk_history``; one call per such backend
per poll cycle covers every changed job of it (only the jobs that reached a final status, when the monitor is
set so). A failed call is logged and timed, and its changes go out without a history: a status is never held
back for its history (the catalog keeps what earlier changes brought, each entry once).
Depends on esap_backends' and esap_messages' types and the monitor's metrics; knows nothing of AMQP or HTTP.
"""

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Protocol, cast
from uuid import UUID

import structlog

from esap_backends import BackendError, BackendStatus
from esap_messages import BackendHistoryEntry
from esap_monitor.metrics import MonitorMetrics
from esap_monitor.services.tracker import PollTarget

log = structlog.get_logger("esap.monitor.history")

History = tuple[BackendHistoryEntry, ...]


class HistorySource(Protocol):
    """A backend that keeps each job's history."""

    async def bulk_history(self, backend_job_ids: Iterable[str]) -> Mapping[str, History]:
        """Histories of many jobs in one call; ids the backend does not know are left out."""
        ...


def history_source(backend: object) -> HistorySource | None:
    """The backend as a history source, when it is one (also behind a wrapper that forwards what it lacks, which
    a runtime protocol check would not see)."""
    return cast(HistorySource, backend) if callable(getattr(backend, "bulk_history", None)) else None


class HistoryReader:
    def __init__(self, backends: Mapping[str, object], metrics: MonitorMetrics, *, every_change: bool) -> None:
        self._sources = {name: source for name, b in backends.items() if (source := history_source(b)) is not None}
        self._metrics = metrics
        self._every_change = every_change

    async def read(self, changes: Sequence[tuple[PollTarget, BackendStatus]]) -> dict[UUID, History]:
        """The history of each changed job whose backend keeps one (our job id -> entries, oldest first)."""
        wanted: dict[str, dict[str, UUID]] = {}
        for target, status in changes:
            backend = target.job.backend
            if backend in self._sources and (self._every_change or status.is_final):
                wanted.setdefault(backend, {})[target.backend_job_id] = target.job_id
        if not wanted:
            return {}
        answers = await asyncio.gather(*(self._ask(name, ids) for name, ids in wanted.items()))
        return {job_id: history for found in answers for job_id, history in found.items()}

    async def _ask(self, name: str, ids: dict[str, UUID]) -> dict[UUID, History]:
        started = time.perf_counter()
        outcome = "ok"
        try:
            answer = await self._sources[name].bulk_history(list(ids))
        except Exception as exc:
            outcome = "transient" if isinstance(exc, BackendError) else "error"
            log.warning("Backend history not read; the changes go out without it.", backend=name, jobs=len(ids),
                        error=repr(exc))
            return {}
        finally:
            self._metrics.backend_call_seconds.labels(name, "bulk_history", outcome).observe(
                time.perf_counter() - started)
        return {ids[backend_id]: history for backend_id, history in answer.items() if backend_id in ids}

"""Fakes of the monitor's ports, for tests: a backend whose statuses (histories, results) a test sets, and a
catalog reader.

In memory, no I/O. Depends on esap_backends' protocol types, esap_messages and the catalog adapter's error only.
"""

import asyncio
from collections.abc import Iterable, Mapping
from datetime import datetime
from uuid import UUID

from esap_backends import BackendError, BackendStatus, KillOutcome
from esap_messages import BackendHistoryEntry, DiracStatus, Phase, ResultFile, SubmitJob
from esap_messages.api import ActiveJob, ActiveJobList, FacilityList, FacilityView
from esap_monitor.adapters.catalog import CatalogUnavailableError


class FakeBackend:
    """A backend that reports what the test set; counts and keeps every bulk call."""

    def __init__(self, name: str = "local") -> None:
        self.name = name
        self.statuses: dict[str, BackendStatus] = {}
        self.calls: list[list[str]] = []
        self.failure: BackendError | None = None
        self.results: dict[str, tuple[ResultFile, ...]] = {}
        self.results_failures: dict[str, list[Exception]] = {}
        self.result_calls: list[str] = []
        self._called = asyncio.Condition()

    def set(self, backend_job_id: str, status: BackendStatus) -> None:
        self.statuses[backend_job_id] = status

    async def submit(self, job: SubmitJob) -> str:
        backend_job_id = str(job.job_id)
        self.statuses.setdefault(backend_job_id, BackendStatus(DiracStatus.RECEIVED))
        return backend_job_id

    async def kill(self, backend_job_id: str, reason: str) -> KillOutcome:
        current = self.statuses.get(backend_job_id)
        if current is not None and current.is_final:
            return KillOutcome.ALREADY_FINAL
        self.statuses[backend_job_id] = BackendStatus(DiracStatus.KILLED, minor_status=reason)
        return KillOutcome.KILLED

    async def bulk_status(self, backend_job_ids: Iterable[str]) -> Mapping[str, BackendStatus]:
        ids = list(backend_job_ids)
        async with self._called:
            self.calls.append(ids)
            self._called.notify_all()
        if self.failure is not None:
            raise self.failure
        return {i: self.statuses[i] for i in ids if i in self.statuses}

    async def changes_since(self, since: datetime, backend_job_ids: Iterable[str]) -> Mapping[str, BackendStatus]:
        return await self.bulk_status(backend_job_ids)

    async def fetch_results(self, backend_job_id: str) -> tuple[ResultFile, ...]:
        """What the test put in ``results`` (or raises what it put in ``results_failures``, one per call)."""
        self.result_calls.append(backend_job_id)
        failures = self.results_failures.get(backend_job_id)
        if failures:
            raise failures.pop(0)
        return self.results.get(backend_job_id, ())

    async def wait_for_calls(self, count: int) -> None:
        """Until at least ``count`` bulk calls were made (bound it with asyncio.timeout)."""
        async with self._called:
            await self._called.wait_for(lambda: len(self.calls) >= count)


class FakeHistoryBackend(FakeBackend):
    """A FakeBackend that also keeps each job's history (as DiracX does); counts and keeps every history call."""

    def __init__(self, name: str = "diracx") -> None:
        super().__init__(name)
        self.histories: dict[str, tuple[BackendHistoryEntry, ...]] = {}
        self.history_calls: list[list[str]] = []
        self.history_failure: BackendError | None = None

    async def bulk_history(self, backend_job_ids: Iterable[str]) -> Mapping[str, tuple[BackendHistoryEntry, ...]]:
        ids = list(backend_job_ids)
        self.history_calls.append(ids)
        if self.history_failure is not None:
            raise self.history_failure
        return {i: self.histories[i] for i in ids if i in self.histories}


def facility(slug: str = "local", backend: str = "local") -> FacilityView:
    return FacilityView(slug=slug, name=slug, description="", url="", facility_type=backend, backend=backend,
                        runtime_engines=["process"], max_parallel=4, status="online")


def active_job(job_id: UUID, backend_job_id: str, *, backend: str = "local", facility: str = "local",
               phase: Phase = Phase.QUEUED, dirac_status: DiracStatus | None = DiracStatus.RECEIVED) -> ActiveJob:
    return ActiveJob(job_id=job_id, facility=facility, backend=backend, backend_job_id=backend_job_id,
                     phase=phase, dirac_status=dirac_status)


class FakeCatalog:
    """A catalog reader answering from lists the test sets; ``failures`` first answers are refusals."""

    def __init__(self, jobs: Iterable[ActiveJob] = (), facilities: Iterable[FacilityView] = ()) -> None:
        self.jobs = list(jobs)
        self.facilities_listed = list(facilities) or [facility()]
        self.failures = 0
        self.reads = 0
        self.answered = asyncio.Event()
        """Set at each list of active jobs answered."""

    async def active_jobs(self) -> ActiveJobList:
        self.reads += 1
        if self.failures > 0:
            self.failures -= 1
            raise CatalogUnavailableError("refused (fake)")
        self.answered.set()
        return ActiveJobList(jobs=self.jobs)

    async def facilities(self) -> FacilityList:
        return FacilityList(facilities=self.facilities_listed)

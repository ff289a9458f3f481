"""The fake of the backend port (base.Backend), for the tests of every service that drives a backend: one
FakeBackend whose statuses, histories, results and failures a test sets, keeping every call it receives.

Unless told otherwise (``kill_outcome``), a kill behaves as a backend's: a final job is ALREADY_FINAL, any
other is KILLED and then reads back as Killed. In memory, no I/O. Depends on esap_backends.base and
esap_messages only.
"""

import asyncio
from collections.abc import Iterable, Mapping
from datetime import datetime

from esap_backends.base import BackendError, BackendStatus, KillOutcome
from esap_messages import BackendHistoryEntry, DiracStatus, ResultFile, SubmitJob


class FakeBackend:
    """A backend that reports what the test set; counts and keeps every call."""

    def __init__(self, name: str = "local") -> None:
        self.name = name
        self.statuses: dict[str, BackendStatus] = {}
        self.submitted: list[SubmitJob] = []
        self.submit_error: Exception | None = None
        self.killed: list[tuple[str, str]] = []
        self.kill_error: Exception | None = None
        self.kill_outcome: KillOutcome | None = None
        """The answer of every kill, when set; the job's status is then left as it is."""
        self.calls: list[list[str]] = []
        self.failure: BackendError | None = None
        self.results: dict[str, tuple[ResultFile, ...]] = {}
        self.results_failures: dict[str, list[Exception]] = {}
        self.result_calls: list[str] = []
        self._called = asyncio.Condition()

    def set(self, backend_job_id: str, status: BackendStatus) -> None:
        self.statuses[backend_job_id] = status

    async def submit(self, job: SubmitJob) -> str:
        if self.submit_error is not None:
            raise self.submit_error
        self.submitted.append(job)
        backend_job_id = str(job.job_id)
        self.statuses.setdefault(backend_job_id, BackendStatus(DiracStatus.RECEIVED))
        return backend_job_id

    async def kill(self, backend_job_id: str, reason: str) -> KillOutcome:
        if self.kill_error is not None:
            raise self.kill_error
        self.killed.append((backend_job_id, reason))
        if self.kill_outcome is not None:
            return self.kill_outcome
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

"""The poller fetches the results of a job it sees end (Done or Failed) without them, from the job's backend, before
its final status goes out: once, a bounded number at once, and a job whose results cannot be fetched now is held
(neither published nor recorded) and asked again at the next cycle, never ended without them."""

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from uuid import UUID

from prometheus_client import CollectorRegistry

from esap_backends import BackendError, BackendStatus, PermanentBackendError
from esap_backends.measured import MeasuredBackend
from esap_backends.testing import FakeBackend
from esap_messages import DiracStatus, JobStatusObserved, JobSubmitted, Message, ResultFile, new_id
from esap_monitor.metrics import MonitorMetrics
from esap_monitor.services.poller import StatusPoller
from esap_monitor.services.tracker import Tracker

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
OUTPUT = ResultFile(name="helloworld.json", size=8, mime_type="application/json",
                    location="file:///work/.dirac/1/helloworld.json")


class Rig:
    def __init__(self, backend: FakeBackend, concurrency: int = 8, measured: bool = False) -> None:
        self.now = 100.0
        self.tracker = Tracker(catalog_lag_seconds=5.0)
        self.tracker.learn_facilities([(backend.name, backend.name)])
        self.published: list[JobStatusObserved] = []
        self.metrics = MonitorMetrics(CollectorRegistry())
        polled = MeasuredBackend(backend, self.metrics.backend_call_seconds) if measured else backend
        self.poller = StatusPoller(self.tracker, {backend.name: polled}, self.publish, self.metrics,  # type: ignore[dict-item]
                                   interval=3600.0, chunk_size=5000, coalesce_seconds=0.0, clock=lambda: self.now,
                                   wall_clock=lambda: NOW, results_concurrency=concurrency)

    async def publish(self, messages: Sequence[Message]) -> None:
        self.published.extend(m for m in messages if isinstance(m, JobStatusObserved))

    def submit(self, backend: FakeBackend, status: DiracStatus = DiracStatus.RUNNING) -> tuple[UUID, str]:
        job_id = new_id()
        backend_job_id = str(len(backend.statuses) + 1)
        self.tracker.apply([JobSubmitted(job_id=job_id, facility=backend.name, backend_job_id=backend_job_id,
                                         status=status)], 100.0)
        backend.set(backend_job_id, BackendStatus(status))
        return job_id, backend_job_id

    def of(self, job_id: UUID) -> list[JobStatusObserved]:
        return [m for m in self.published if m.job_id == job_id]

    def fetches(self, outcome: str, backend: str = "dirac") -> float:
        value = self.metrics.registry.get_sample_value("monitor_results_fetches_total",
                                                       {"backend": backend, "outcome": outcome})
        return value or 0.0


async def test_a_job_that_ends_without_results_gets_them_before_its_final_status_goes_out() -> None:
    dirac = FakeBackend("dirac")
    rig = Rig(dirac, measured=True)
    job, dirac_id = rig.submit(dirac)
    assert await rig.poller.poll(due_only=False) == 0 and dirac.result_calls == []
    dirac.set(dirac_id, BackendStatus(DiracStatus.DONE, minor_status="Execution Complete"))
    dirac.results[dirac_id] = (OUTPUT,)
    assert await rig.poller.poll(due_only=False) == 1
    [final] = rig.of(job)
    assert (final.status, final.results) == (DiracStatus.DONE, (OUTPUT,))
    assert await rig.poller.poll(due_only=False) == 0
    assert dirac.result_calls == [dirac_id]
    assert rig.fetches("fetched") == 1
    timed = rig.metrics.registry.get_sample_value(
        "monitor_backend_call_duration_seconds_count",
        {"backend": "dirac", "operation": "fetch_results", "outcome": "ok"})
    assert timed == 1


async def test_a_job_whose_results_cannot_be_fetched_now_is_held_and_asked_again() -> None:
    dirac = FakeBackend("dirac")
    rig = Rig(dirac)
    (ended, ended_id), (moving, moving_id) = rig.submit(dirac), rig.submit(dirac, DiracStatus.WAITING)
    dirac.set(ended_id, BackendStatus(DiracStatus.FAILED, minor_status="Application Finished With Errors"))
    dirac.set(moving_id, BackendStatus(DiracStatus.RUNNING))
    dirac.results[ended_id] = (OUTPUT,)
    dirac.results_failures[ended_id] = [BackendError("sandbox store unreachable"), RuntimeError("a bug")]

    assert await rig.poller.poll(due_only=False) == 1  # the other job's change goes out all the same
    assert rig.of(ended) == [] and [m.status for m in rig.of(moving)] == [DiracStatus.RUNNING]
    assert await rig.poller.poll(due_only=False) == 0  # within its pause (1 s): held, the backend not asked
    assert dirac.result_calls == [ended_id]
    rig.now += 1.0
    assert await rig.poller.poll(due_only=False) == 0  # asked again: an unexpected failure holds it too
    rig.now += 1.5
    assert await rig.poller.poll(due_only=False) == 0  # the pause doubled (2 s)
    assert dirac.result_calls == [ended_id] * 2
    rig.now += 0.5
    assert await rig.poller.poll(due_only=False) == 1

    [final] = rig.of(ended)
    assert (final.status, final.results) == (DiracStatus.FAILED, (OUTPUT,))
    assert dirac.result_calls == [ended_id] * 3
    assert [len(call) for call in dirac.calls] == [2, 2, 2, 2, 2]  # the held job stayed polled
    assert (rig.fetches("held"), rig.fetches("fetched")) == (2, 1)


async def test_results_that_can_never_be_fetched_end_the_job_without_them() -> None:
    dirac = FakeBackend("dirac")
    rig = Rig(dirac)
    job, dirac_id = rig.submit(dirac)
    dirac.set(dirac_id, BackendStatus(DiracStatus.DONE))
    dirac.results_failures[dirac_id] = [PermanentBackendError("the output sandbox is not a readable archive")]
    assert await rig.poller.poll(due_only=False) == 1
    [final] = rig.of(job)
    assert (final.status, final.results) == (DiracStatus.DONE, ())
    assert rig.fetches("missing") == 1


async def test_statuses_that_carry_results_or_end_otherwise_fetch_nothing() -> None:
    local = FakeBackend("local")
    rig = Rig(local)
    (carried, carried_id), (killed, killed_id) = rig.submit(local), rig.submit(local)
    (running, running_id) = rig.submit(local, DiracStatus.WAITING)
    local.set(carried_id, BackendStatus(DiracStatus.DONE, results=(OUTPUT,)))
    local.set(killed_id, BackendStatus(DiracStatus.KILLED))
    local.set(running_id, BackendStatus(DiracStatus.RUNNING))
    assert await rig.poller.poll(due_only=False) == 3
    assert local.result_calls == []
    assert rig.of(carried)[0].results == (OUTPUT,) and rig.of(killed)[0].results == ()
    assert rig.of(running)[0].results is None


class GatedResults(FakeBackend):
    """Fetches wait for the test's gate; counts how many are under way at once."""

    def __init__(self, bound: int) -> None:
        super().__init__("dirac")
        self.gate = asyncio.Event()
        self.bound_reached = asyncio.Event()
        self.bound = bound
        self.under_way = 0
        self.most_at_once = 0

    async def fetch_results(self, backend_job_id: str) -> tuple[ResultFile, ...]:
        self.under_way += 1
        self.most_at_once = max(self.most_at_once, self.under_way)
        if self.under_way >= self.bound:
            self.bound_reached.set()
        try:
            await self.gate.wait()
            return await super().fetch_results(backend_job_id)
        finally:
            self.under_way -= 1


async def test_fetches_run_a_bounded_number_at_once() -> None:
    dirac = GatedResults(bound=2)
    rig = Rig(dirac, concurrency=2)
    ended = [rig.submit(dirac)[1] for _ in range(6)]
    for dirac_id in ended:
        dirac.set(dirac_id, BackendStatus(DiracStatus.DONE))
    poll = asyncio.create_task(rig.poller.poll(due_only=False))
    async with asyncio.timeout(5):
        await dirac.bound_reached.wait()
        for _ in range(20):  # give the others every chance to start, were they allowed to
            await asyncio.sleep(0)
        assert dirac.under_way == 2
        dirac.gate.set()
        assert await poll == 6
    assert dirac.most_at_once == 2 and sorted(dirac.result_calls) == sorted(ended)

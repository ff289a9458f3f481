"""WAIT without polling: futures registered before the read, woken by notifications; no sleeps here."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from uuid import UUID, uuid4

from esap_catalog.services.waiting import JobWaiter, uuid7_age
from esap_messages import Phase, new_id
from esap_messages.api import DiracView, JobView
from esap_runtime.waiters import WaiterRegistry

from .catalog_fakes import FakeJobs

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def view(job_id: UUID, phase: Phase) -> JobView:
    return JobView(job_id=job_id, run_id=None, owner=None, phase=phase, workflow="noop", facility="local",
                   backend="local", parameters={}, creation_time=NOW, start_time=None, end_time=None,
                   execution_duration=0, destruction=None, backend_job_id=None, dirac=DiracView(), error=None,
                   results=[], history=[])


class Clock:
    """A monotonic clock that jumps by ``step`` at every reading."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        value = self.now
        self.now += self.step
        return value


def waiter(jobs: FakeJobs, registry: WaiterRegistry, *, monotonic: Callable[[], float] | None = None,
           wall: float = 0.0) -> JobWaiter:
    return JobWaiter(jobs.read, registry, max_wait=60, creation_grace=10, wall_clock=lambda: wall,
                     monotonic=monotonic or Clock(0.0))


async def test_a_change_committed_during_the_read_is_not_lost() -> None:
    job_id = new_id()
    registry = WaiterRegistry()
    jobs = FakeJobs([view(job_id, Phase.QUEUED), view(job_id, Phase.EXECUTING)],
                    during_read=lambda n: registry.notify(job_id) if n == 1 else None)
    result = await asyncio.wait_for(waiter(jobs, registry).get(job_id, wait=60), 5)
    assert result is not None and result.phase is Phase.EXECUTING and jobs.reads == 2
    assert registry.count == 0


async def test_a_wake_up_without_a_phase_change_keeps_waiting() -> None:
    job_id = new_id()
    registry = WaiterRegistry()
    jobs = FakeJobs([view(job_id, Phase.QUEUED), view(job_id, Phase.QUEUED), view(job_id, Phase.ABORTED)],
                    during_read=lambda n: registry.notify(job_id) if n < 3 else None)
    result = await asyncio.wait_for(waiter(jobs, registry).get(job_id, wait=-1), 5)
    assert result is not None and result.phase is Phase.ABORTED and jobs.reads == 3


async def test_a_final_job_or_another_phase_returns_at_once() -> None:
    job_id = new_id()
    registry = WaiterRegistry()
    done = FakeJobs([view(job_id, Phase.COMPLETED)])
    assert (await waiter(done, registry).get(job_id, wait=60)).phase is Phase.COMPLETED  # type: ignore[union-attr]
    queued = FakeJobs([view(job_id, Phase.QUEUED)])
    result = await waiter(queued, registry).get(job_id, wait=60, phase=Phase.PENDING)
    assert result is not None and result.phase is Phase.QUEUED and queued.reads == 1


async def test_the_wait_ends_when_its_time_is_up() -> None:
    job_id = new_id()
    jobs = FakeJobs([view(job_id, Phase.EXECUTING)])
    result = await waiter(jobs, WaiterRegistry(), monotonic=Clock(100.0)).get(job_id, wait=5)
    assert result is not None and result.phase is Phase.EXECUTING and jobs.reads == 1


async def test_wake_all_wakes_every_waiter() -> None:
    registry = WaiterRegistry()
    futures = [registry.register(new_id()) for _ in range(3)]
    registry.wake_all()
    assert all(f.done() for f in futures) and registry.count == 3
    registry.unregister(new_id(), futures[0])
    assert registry.count == 3


async def test_an_unknown_old_or_foreign_id_is_missing_at_once() -> None:
    registry = WaiterRegistry()
    for job_id, wall in ((uuid4(), 0.0), (new_id(), datetime.now(UTC).timestamp() + 3600)):
        jobs = FakeJobs([None])
        assert await waiter(jobs, registry, wall=wall).get(job_id) is None and jobs.reads == 1


async def test_a_fresh_id_is_waited_for_until_it_appears() -> None:
    job_id = new_id()
    registry = WaiterRegistry()
    jobs = FakeJobs([None, view(job_id, Phase.PENDING)],
                    during_read=lambda n: registry.notify(job_id) if n == 1 else None)
    created = (job_id.int >> 80) / 1000.0
    result = await asyncio.wait_for(waiter(jobs, registry, wall=created + 0.5).get(job_id), 5)
    assert result is not None and result.phase is Phase.PENDING


def test_uuid7_age() -> None:
    job_id = new_id()
    created = (job_id.int >> 80) / 1000.0
    assert uuid7_age(job_id, created + 2.5) == 2.5
    assert uuid7_age(uuid4(), created) is None


async def test_a_recent_job_that_was_deleted_is_not_waited_for() -> None:
    job_id = new_id()  # made just now: without the tombstone, a read would wait for it to appear
    jobs = FakeJobs([None])

    async def deleted(asked: UUID) -> bool:
        return asked == job_id

    patient = JobWaiter(jobs.read, WaiterRegistry(), max_wait=60, creation_grace=10, deleted=deleted)
    assert await asyncio.wait_for(patient.get(job_id), 5) is None
    assert jobs.reads == 1


async def test_another_owner_s_job_is_answered_at_once_even_with_wait() -> None:
    job_id = new_id()
    jobs = FakeJobs([view(job_id, Phase.EXECUTING)])
    result = await asyncio.wait_for(waiter(jobs, WaiterRegistry()).get(job_id, wait=60, accept=lambda _v: False), 5)
    assert result is not None and jobs.reads == 1

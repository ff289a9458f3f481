"""The gateway's WAIT machinery over a fake read: at once for a job not in the phase waited on, woken by a
notification for its job only, and a timeout answered with the job as it is."""

import asyncio
from typing import Any

from esap_gateway.services.waiting import wait_for_change
from esap_messages import Phase, new_id
from esap_messages.api import JobView
from esap_runtime.waiters import WaiterRegistry


class Job:
    """A job whose phase the test moves; ``read`` counts the reads."""

    def __init__(self, make_job: Any, phase: Phase) -> None:
        self.view: JobView = make_job(phase=phase)
        self.reads = 0
        self.was_read = asyncio.Event()

    async def read(self) -> JobView:
        self.reads += 1
        self.was_read.set()
        return self.view

    def move(self, phase: Phase) -> None:
        self.view = self.view.model_copy(update={"phase": phase})


async def test_a_finished_job_or_another_phase_is_answered_at_once(make_job) -> None:
    registry = WaiterRegistry()
    done = Job(make_job, Phase.COMPLETED)
    answer = await wait_for_change(registry, done.view.job_id, done.read, seconds=60, phase=None)
    assert answer.phase is Phase.COMPLETED
    queued = Job(make_job, Phase.QUEUED)
    answer = await wait_for_change(registry, queued.view.job_id, queued.read, seconds=60, phase=Phase.EXECUTING)
    assert answer.phase is Phase.QUEUED and registry.count == 0


async def test_a_notification_wakes_the_job_s_waiters_only(make_job) -> None:
    registry = WaiterRegistry()
    job = Job(make_job, Phase.EXECUTING)
    waiter = asyncio.create_task(wait_for_change(registry, job.view.job_id, job.read, seconds=60, phase=None))
    await job.was_read.wait()
    registry.notify(new_id())
    await asyncio.sleep(0)
    assert not waiter.done() and job.reads == 1
    job.move(Phase.COMPLETED)
    registry.notify(job.view.job_id)
    assert (await waiter).phase is Phase.COMPLETED and job.reads == 2 and registry.count == 0


async def test_a_wake_up_without_a_change_waits_again_and_time_runs_out(make_job) -> None:
    registry = WaiterRegistry()
    job = Job(make_job, Phase.EXECUTING)
    clock = iter([0.0, 0.0, 11.0])
    waiter = asyncio.create_task(wait_for_change(registry, job.view.job_id, job.read, seconds=10, phase=None,
                                                 monotonic=lambda: next(clock)))
    await job.was_read.wait()
    registry.wake_all()
    assert (await waiter).phase is Phase.EXECUTING and job.reads == 2

"""A LocalBackend dropped while its jobs run (no kill), and a new one that takes them up."""

from pathlib import Path

from esap_backends.local.layout import read_state
from esap_messages import DiracStatus


async def test_a_new_backend_sees_a_running_job_through_to_done(make_backend, callbacks, wait_until, jobs,
                                                                work_root: Path) -> None:
    first = make_backend(callback_client=callbacks)
    job = jobs.python(jobs.WAIT_FOR_GO)
    job_id = await first.submit(job)
    await first.close()
    state = read_state(work_root / job_id)
    assert state is not None and state.status is DiracStatus.RUNNING

    second = make_backend()
    await second.recover()
    assert second.running_count == 1
    monitor = make_backend(workflows_dir=None)  # reads the directories only, as the monitor does
    assert (await monitor.bulk_status([job_id]))[job_id].status is DiracStatus.RUNNING

    (work_root / job_id / "go").touch()
    await wait_until(lambda: second.running_count == 0, what="exit seen by the new backend")
    state = read_state(work_root / job_id)
    assert state is not None and state.status is DiracStatus.DONE and state.exit_code == 0
    assert (await monitor.bulk_status([job_id]))[job_id].status is DiracStatus.DONE
    assert callbacks.statuses(job.job_id) == [DiracStatus.RUNNING]


async def test_waiting_jobs_are_started_by_the_next_backend(make_backend, wait_until, jobs,
                                                            work_root: Path) -> None:
    first = make_backend(max_parallel=1)
    running_id = await first.submit(jobs.python(jobs.WAIT_FOR_GO))
    waiting_id = await first.submit(jobs.python(jobs.WAIT_FOR_GO))
    await first.close()

    second = make_backend(max_parallel=2)
    await second.recover()
    assert second.running_count == 2
    for job_id in (running_id, waiting_id):
        (work_root / job_id / "go").touch()
    await wait_until(lambda: second.running_count == 0, what="both jobs done")
    statuses = await second.bulk_status([running_id, waiting_id])
    assert {s.status for s in statuses.values()} == {DiracStatus.DONE}

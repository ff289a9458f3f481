"""A LocalBackend dropped while its jobs run (no kill), and a new one that takes them up."""

import os
from pathlib import Path

from esap_backends.local.launch import job_environment, launcher_environment, plan_launch
from esap_backends.local.launcher import Launcher, launch_spec
from esap_backends.local.layout import read_state
from esap_backends.local.store import JobDirectoryStore
from esap_messages import DiracStatus

from .conftest import WAIT_FOR_GO, python_job


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


COUNT_RUNS = "open('runs', 'a').write('run\\n')\n" + WAIT_FOR_GO
"""A payload that notes each time it is run, then runs until ``go`` appears."""


async def _started_without_answer(job, work_root: Path) -> int:
    """Write the job (Received) and have a launcher start it, as if the answer naming its pid had been lost."""
    store = JobDirectoryStore(work_root, None)
    plan = plan_launch(job)
    store.create(job, plan)
    job_dir = store.path_of(str(job.job_id))
    store.write_launch_spec(str(job.job_id), launch_spec(job_environment(str(job.job_id), job_dir, plan.parameters),
                                                         plan.argv))
    launcher = Launcher(str(work_root), launcher_environment(os.environ["PATH"]))
    pid = await launcher.launch(str(job.job_id))
    await launcher.close()
    return pid


async def test_a_job_started_whose_answer_was_lost_is_taken_up_not_started_twice(
        make_backend, wait_until, work_root: Path) -> None:
    job = python_job(COUNT_RUNS)
    job_id = str(job.job_id)
    pid = await _started_without_answer(job, work_root)
    await wait_until(lambda: (work_root / job_id / "runs").exists(), what="the payload running")

    backend = make_backend()
    await backend.recover()  # the state still says Received
    assert backend.running_count == 1
    state = read_state(work_root / job_id)
    assert state is not None and state.status is DiracStatus.RUNNING and state.pid == pid
    (work_root / job_id / "go").touch()
    await wait_until(lambda: backend.running_count == 0, what="the exit seen")
    state = read_state(work_root / job_id)
    assert state is not None and state.status is DiracStatus.DONE
    assert (work_root / job_id / "runs").read_text() == "run\n"


async def test_a_job_started_whose_answer_was_lost_and_that_ended_is_settled_from_its_files(
        make_backend, wait_until, work_root: Path) -> None:
    job = python_job("open('runs', 'a').write('run\\n')")
    job_id = str(job.job_id)
    await _started_without_answer(job, work_root)
    await wait_until(lambda: (work_root / job_id / ".exit_code").exists(), what="the payload ended")

    backend = make_backend()
    await backend.submit(job)  # a redelivered submit finds it Received, and does not run it again
    await wait_until(lambda: backend.running_count == 0, what="settled")
    state = read_state(work_root / job_id)
    assert state is not None and state.status is DiracStatus.DONE and state.pid is None
    assert (work_root / job_id / "runs").read_text() == "run\n"

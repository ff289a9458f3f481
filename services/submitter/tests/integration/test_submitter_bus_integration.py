"""The submitter app in-process against the real RabbitMQ: SubmitJob -> JobSubmitted and callbacks, KillJob ->
Killed observed, a job beyond max_parallel waits for a slot, redelivery starts nothing new, a restart takes running
jobs up."""

import asyncio
import contextlib
import json
import os
import signal
from pathlib import Path

import httpx
import psutil

from esap_backends.local import processes
from esap_backends.local.layout import JobState, read_state
from esap_messages import (
    DiracStatus,
    ErrorType,
    JobStatusObserved,
    JobSubmissionFailed,
    JobSubmitted,
    KillJob,
    StatusSource,
)
from esap_submitter.main import create_app

HELLO = {"Parameter1": "999", "Parameter2": "2", "Parameter3": "33", "Parameter4": "GG", "Parameter5": "test",
         "Parameter6": "default"}


async def _until(condition, within: float = 30.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


def _wrappers_in(job_dir: Path) -> list[psutil.Process]:
    """The launcher's subshells running in this job's directory: each leads the process group of one start."""
    found = []
    for process in psutil.process_iter(["cwd", "status"]):
        info = process.info
        with contextlib.suppress(psutil.Error):
            if (info["cwd"] == str(job_dir) and info["status"] != psutil.STATUS_ZOMBIE
                    and os.getpgid(process.pid) == process.pid):
                found.append(process)
    return found


async def test_a_submitted_job_is_reported_and_calls_back(run_submitter, bus, catalog_queue, gateway, jobs,
                                                          settings) -> None:
    fake, _ = gateway
    job = jobs.submit("hello-world", HELLO)
    async with run_submitter() as app:
        await bus.publish(job)
        submitted = await catalog_queue.next(JobSubmitted, job.job_id)
        assert submitted.backend_job_id == str(job.job_id)
        # Started while it was submitted: the one event says so, and the end follows as an observation.
        assert submitted.status is DiracStatus.RUNNING and submitted.started_at is not None
        ended = await catalog_queue.next(JobStatusObserved, job.job_id)
        assert ended.status is DiracStatus.DONE and ended.source is StatusSource.SUBMITTER
        assert ended.results is not None and "helloworld.json" in [r.name for r in ended.results]
        await _until(lambda: "Done" in fake.statuses(job.job_id))
        assert fake.statuses(job.job_id) == ["Running", "Done"]
        assert {auth for _, auth, _ in fake.calls} == {f"Bearer {jobs.token}"}
        result = settings.local_work_root / str(job.job_id) / "helloworld.json"
        assert json.loads(result.read_text()) == HELLO

        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://submitter") as http:
            health = await http.get("/healthz")
            metrics = (await http.get("/metrics")).text
    assert health.status_code == 200 and health.json()["checks"] == {"bus": True}
    assert 'submitter_submissions_total{backend="local",outcome="submitted"} 1.0' in metrics
    assert 'submitter_callbacks_total{outcome="delivered"} 2.0' in metrics
    assert "submitter_running_jobs 0.0" in metrics
    assert 'submitter_messages_consumed_total{type="SubmitJob"} 1.0' in metrics


async def test_kill_of_a_running_job_is_observed_killed(run_submitter, bus, catalog_queue, gateway, jobs,
                                                        settings) -> None:
    fake, _ = gateway
    job = jobs.submit("sleep", {"seconds": "300"})
    async with run_submitter():
        await bus.publish(job)
        submitted = await catalog_queue.next(JobSubmitted, job.job_id)
        await _until(lambda: "Running" in fake.statuses(job.job_id))
        job_dir = settings.local_work_root / submitted.backend_job_id
        state = read_state(job_dir)
        assert state is not None and state.pid is not None
        assert processes.group_alive(state.pid)

        await bus.publish(KillJob(job_id=job.job_id, facility="local", backend="local",
                                  backend_job_id=submitted.backend_job_id))
        observed = await catalog_queue.next(JobStatusObserved, job.job_id)
    assert (observed.status, observed.source) == (DiracStatus.KILLED, StatusSource.SUBMITTER)
    assert observed.minor_status == "aborted by its owner"
    assert observed.results is not None and {r.name for r in observed.results} == {"stdout", "stderr"}
    assert not processes.group_alive(state.pid)


async def test_a_job_beyond_max_parallel_waits_and_the_metrics_show_it(bus, catalog_queue, jobs,
                                                                       settings) -> None:
    first, second = jobs.submit("sleep", {"seconds": "300"}), jobs.submit("sleep", {"seconds": "300"})
    app = create_app(settings.model_copy(update={"local_max_parallel": 1}))
    try:
        async with app.router.lifespan_context(app), \
                httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://submitter") as http:
            for job in (first, second):
                await bus.publish(job)
                await catalog_queue.next(JobSubmitted, job.job_id)
            metrics = (await http.get("/metrics")).text
            assert "submitter_running_jobs 1.0" in metrics and "submitter_waiting_jobs 1.0" in metrics
            assert _state(settings, second).status is DiracStatus.WAITING

            await bus.publish(KillJob(job_id=first.job_id, facility="local", backend="local"))
            await catalog_queue.next(JobStatusObserved, first.job_id)
            await _until(lambda: _state(settings, second).status is DiracStatus.RUNNING)
            metrics = (await http.get("/metrics")).text
            assert "submitter_running_jobs 1.0" in metrics and "submitter_waiting_jobs 0.0" in metrics
    finally:
        for job in (first, second):
            state = read_state(settings.local_work_root / str(job.job_id))
            if state is not None and state.pid is not None:
                processes.signal_group(state.pid, signal.SIGKILL)


def _state(settings, job) -> JobState:
    state = read_state(settings.local_work_root / str(job.job_id))
    assert state is not None
    return state


async def test_a_redelivered_submit_does_not_start_a_second_process(run_submitter, bus, catalog_queue,
                                                                    gateway, jobs, settings) -> None:
    fake, _ = gateway
    job = jobs.submit("sleep", {"seconds": "300"})
    async with run_submitter():
        await bus.publish(job)
        await bus.publish(job)
        await catalog_queue.next(JobSubmitted, job.job_id)
        await catalog_queue.next(JobSubmitted, job.job_id)
        await _until(lambda: "Running" in fake.statuses(job.job_id))
        job_dir = settings.local_work_root / str(job.job_id)
        assert len(_wrappers_in(job_dir)) == 1
        assert fake.statuses(job.job_id) == ["Running"]
        await bus.publish(KillJob(job_id=job.job_id, facility="local", backend="local"))
        await catalog_queue.next(JobStatusObserved, job.job_id)
    assert _wrappers_in(job_dir) == []


async def test_an_unknown_backend_fails_the_submission(run_submitter, bus, catalog_queue, jobs) -> None:
    job = jobs.submit("noop", {}, backend="dirac")
    async with run_submitter():
        await bus.publish(job)
        failed = await catalog_queue.next(JobSubmissionFailed, job.job_id)
    assert failed.error_type is ErrorType.FATAL and "dirac" in failed.message


async def test_a_restarted_submitter_takes_up_a_running_job(run_submitter, bus, catalog_queue, gateway, jobs,
                                                            settings) -> None:
    job = jobs.submit("sleep", {"seconds": "1"})
    async with run_submitter():
        await bus.publish(job)
        await catalog_queue.next(JobSubmitted, job.job_id)
    job_dir = settings.local_work_root / str(job.job_id)
    state = read_state(job_dir)
    assert state is not None and state.status is DiracStatus.RUNNING  # left running by the stop

    async with run_submitter():
        await _until(lambda: (s := read_state(job_dir)) is not None and s.status is DiracStatus.DONE)
    assert (job_dir / ".exit_code").read_text() == "0"

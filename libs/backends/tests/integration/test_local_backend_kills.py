"""Killing local jobs with real processes: process groups, grace periods, execution duration, unknown and
waiting jobs."""

import os
import signal
from pathlib import Path
from typing import Any

from esap_backends import KillOutcome
from esap_backends.local import processes
from esap_backends.local.layout import read_state
from esap_messages import DiracStatus, new_id

GRANDCHILD = (
    "import subprocess, sys, time\n"
    "child = subprocess.Popen(['sleep', '300'])\n"
    "open('grandchild.pid.tmp', 'w').write(str(child.pid))\n"
    "import os; os.rename('grandchild.pid.tmp', 'grandchild.pid')\n"
    "time.sleep(300)\n"
)
STUBBORN = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "open('ready', 'w').close()\n"
    "time.sleep(300)\n"
)


async def _status(backend: Any, job_id: str) -> Any:
    return (await backend.bulk_status([job_id]))[job_id]


async def test_kill_reaches_the_payload_and_its_grandchild(make_backend, callbacks, wait_until, jobs,
                                                           work_root: Path) -> None:
    backend = make_backend(callback_client=callbacks)
    job = jobs.python(GRANDCHILD)
    job_id = await backend.submit(job)
    job_dir = work_root / job_id
    await wait_until(lambda: (job_dir / "grandchild.pid").exists(), what="grandchild started")
    grandchild = int((job_dir / "grandchild.pid").read_text())
    state = read_state(job_dir)
    assert state is not None and state.pid is not None
    window = (state.pid_start_ticks, state.pid_start_ticks_latest)  # the start lies in it, not always at its start
    assert processes.is_alive(grandchild, None) and processes.is_alive(state.pid, *window)

    assert await backend.kill(job_id, "aborted by its owner") is KillOutcome.KILLED

    assert not processes.is_alive(grandchild, None)
    assert not processes.is_alive(state.pid, *window)
    assert not processes.group_alive(state.pid)
    status = await _status(backend, job_id)
    assert (status.status, status.minor_status) == (DiracStatus.KILLED, "aborted by its owner")
    assert [r.name for r in status.results] == ["stdout", "stderr"]
    assert callbacks.statuses(job.job_id) == [DiracStatus.RUNNING]
    assert await backend.kill(job_id, "again") is KillOutcome.ALREADY_FINAL
    assert backend.running_count == 0


async def test_a_payload_ignoring_sigterm_is_killed_after_the_grace_period(make_backend, wait_until, jobs,
                                                                           work_root: Path) -> None:
    backend = make_backend(kill_grace_seconds=0.3)
    job_id = await backend.submit(jobs.python(STUBBORN))
    await wait_until(lambda: (work_root / job_id / "ready").exists(), what="payload ready")
    assert await backend.kill(job_id, "stop") is KillOutcome.KILLED
    state = read_state(work_root / job_id)
    assert state is not None and state.status is DiracStatus.KILLED and state.pid is not None
    assert not processes.group_alive(state.pid)


async def test_execution_duration_exceeded_kills_the_job(make_backend, callbacks, wait_until, jobs) -> None:
    backend = make_backend(callback_client=callbacks)
    job = jobs.make(jobs.workflow("sleep"), {"seconds": "300"}, execution_duration=1)
    job_id = await backend.submit(job)

    async def killed() -> bool:
        return (await _status(backend, job_id)).status is DiracStatus.KILLED

    await wait_until(killed, within=20, what="Killed after the execution duration")
    status = await _status(backend, job_id)
    assert status.minor_status == "Execution duration exceeded"
    assert status.error == "Execution duration of 1 s exceeded"
    assert callbacks.statuses(job.job_id) == [DiracStatus.RUNNING]


async def test_killing_a_finished_job_says_already_final(make_backend, wait_until, jobs) -> None:
    backend = make_backend()
    job_id = await backend.submit(jobs.make(jobs.workflow("noop"), {}))

    async def done() -> bool:
        return (await _status(backend, job_id)).status is DiracStatus.DONE

    await wait_until(done, what="noop done")
    assert await backend.kill(job_id, "late") is KillOutcome.ALREADY_FINAL
    assert (await _status(backend, job_id)).status is DiracStatus.DONE


async def test_a_waiting_job_killed_never_starts(make_backend, wait_until, jobs, work_root: Path) -> None:
    backend = make_backend(max_parallel=1)
    running, waiting = jobs.python(jobs.WAIT_FOR_GO), jobs.python(jobs.WAIT_FOR_GO)
    running_id, waiting_id = await backend.submit(running), await backend.submit(waiting)
    assert (await _status(backend, waiting_id)).status is DiracStatus.WAITING
    assert await backend.kill(waiting_id, "aborted by its owner") is KillOutcome.KILLED
    (work_root / running_id / "go").touch()

    async def done() -> bool:
        return (await _status(backend, running_id)).status is DiracStatus.DONE

    await wait_until(done, what="running job done")
    assert (await _status(backend, waiting_id)).status is DiracStatus.KILLED
    assert not (work_root / waiting_id / "stdout.txt").exists()
    assert backend.waiting_count == 0


async def test_an_unknown_job_killed_leaves_a_tombstone_that_a_submit_respects(make_backend, callbacks, jobs,
                                                                               work_root: Path) -> None:
    backend = make_backend(callback_client=callbacks)
    job = jobs.python("open('ran', 'w').close()")
    job_id = str(job.job_id)
    assert await backend.kill(job_id, "aborted by its owner") is KillOutcome.KILLED
    assert await backend.submit(job) == job_id
    assert backend.running_count == 0
    assert sorted(os.listdir(work_root / job_id)) == ["state.jsonl"]
    assert (await _status(backend, job_id)).status is DiracStatus.KILLED
    assert callbacks.reports == []


async def test_bulk_status_leaves_out_unknown_ids(make_backend) -> None:
    backend = make_backend()
    assert await backend.bulk_status([str(new_id()), "../etc", "x/y"]) == {}


async def test_a_payload_that_died_without_exit_code_is_failed_on_recovery(make_backend, wait_until, jobs,
                                                                           work_root: Path) -> None:
    first = make_backend()
    job_id = await first.submit(jobs.python(jobs.WAIT_FOR_GO))
    state = read_state(work_root / job_id)
    assert state is not None and state.pid is not None
    await first.close()
    os.killpg(state.pid, signal.SIGKILL)
    await wait_until(lambda: not processes.group_alive(state.pid), what="group gone")

    second = make_backend()
    await second.recover()
    status = await _status(second, job_id)
    assert status.status is DiracStatus.FAILED
    assert status.error == "the process ended without an exit status"
    assert second.running_count == 0

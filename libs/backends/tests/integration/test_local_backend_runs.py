"""The local executor running real processes: results, failures, argv fidelity, idempotent submit, queueing."""

import asyncio
import json
import os
from pathlib import Path
from typing import Any

from esap_backends.local.layout import read_state
from esap_messages import DiracStatus

HELLO = {"Parameter1": "999", "Parameter2": "two words", "Parameter3": "33", "Parameter4": 'G"G',
         "Parameter5": "{test}", "Parameter6": "a=b; c"}


async def _status(backend: Any, job_id: str) -> DiracStatus | None:
    found = (await backend.bulk_status([job_id])).get(job_id)
    return found.status if found else None


async def test_hello_world_runs_to_done_and_reports_back(make_backend, callbacks, wait_until, jobs,
                                                         work_root: Path) -> None:
    backend = make_backend(callback_client=callbacks)
    job = jobs.make(jobs.workflow("hello-world"), HELLO)
    job_id = await backend.submit(job)
    assert job_id == str(job.job_id)
    await wait_until(lambda: DiracStatus.DONE in callbacks.statuses(job.job_id), what="Done callback")

    job_dir = work_root / job_id
    assert json.loads((job_dir / "helloworld.json").read_text()) == HELLO
    status = (await backend.bulk_status([job_id]))[job_id]
    assert status.status is DiracStatus.DONE and status.exit_code == 0
    assert [r.name for r in status.results] == ["stdout", "stderr", "helloworld.json"]
    by_name = {r.name: r for r in status.results}
    assert by_name["helloworld.json"].mime_type == "application/json"
    assert by_name["stdout"].size == (job_dir / "stdout.txt").stat().st_size > 0
    assert by_name["helloworld.json"].location == (job_dir / "helloworld.json").as_uri()
    assert callbacks.statuses(job.job_id) == [DiracStatus.RUNNING, DiracStatus.DONE]
    assert {token for _, token, _ in callbacks.reports} == {jobs.TOKEN}
    state = read_state(job_dir)
    assert state is not None and state.status is DiracStatus.DONE and state.ended_at is not None
    assert "job.json" in os.listdir(job_dir) and jobs.TOKEN not in (job_dir / "job.json").read_text()
    assert backend.running_count == 0


async def test_a_failing_payload_fails_with_its_exit_code_and_stderr(make_backend, callbacks, wait_until,
                                                                     jobs) -> None:
    backend = make_backend(callback_client=callbacks)
    job = jobs.python("import sys\nprint('working')\nsys.stderr.write('it broke\\n')\nsys.exit(3)")
    job_id = await backend.submit(job)
    await wait_until(lambda: DiracStatus.FAILED in callbacks.statuses(job.job_id), what="Failed callback")
    status = (await backend.bulk_status([job_id]))[job_id]
    assert status.status is DiracStatus.FAILED
    assert status.error == "exit code 3: it broke"
    final = callbacks.reports[-1][2]
    assert final.exit_code == 3 and final.message == "exit code 3: it broke"


async def test_a_value_arrives_unchanged_as_argv_and_environment(make_backend, wait_until, jobs,
                                                                 work_root: Path) -> None:
    value = """it's "quoted" {braces} {Other} spaces  a=b; echo pwned $HOME `id`"""
    script = ("import json, os, sys\n"
              "json.dump({'argv': sys.argv[1:], 'env': dict(os.environ)}, open('seen.json', 'w'))")
    job = jobs.python(script, "{Value}", "--opt={Value}", parameters={"Value": value, "Other": "x"})
    backend = make_backend()
    job_id = await backend.submit(job)
    await wait_until(lambda: (work_root / job_id / ".exit_code").exists(), what="job end")
    seen = json.loads((work_root / job_id / "seen.json").read_text())
    assert seen["argv"] == [value, f"--opt={value}"]
    env = seen["env"]
    assert env["ESAP_PARAM_VALUE"] == value and env["ESAP_PARAM_OTHER"] == "x"
    assert env["ESAP_JOB_ID"] == job_id and env["HOME"] == str(work_root / job_id)
    assert not {k for k in env if k.startswith("ESAP_") and k not in
                ("ESAP_JOB_ID", "ESAP_PARAM_VALUE", "ESAP_PARAM_OTHER")}


async def test_a_redelivered_submit_runs_the_job_once(make_backend, callbacks, wait_until, jobs,
                                                      work_root: Path) -> None:
    backend = make_backend(callback_client=callbacks)
    job = jobs.python("open('runs.txt', 'a').write('ran\\n')\n" + jobs.WAIT_FOR_GO)
    ids = await asyncio.gather(backend.submit(job), backend.submit(job), backend.submit(job))
    assert set(ids) == {str(job.job_id)}
    assert await backend.submit(job) == str(job.job_id)
    job_dir = work_root / ids[0]
    await wait_until(lambda: (job_dir / "runs.txt").exists(), what="payload start")
    (job_dir / "go").touch()
    await wait_until(lambda: DiracStatus.DONE in callbacks.statuses(job.job_id), what="Done callback")
    assert await backend.submit(job) == str(job.job_id)
    assert (job_dir / "runs.txt").read_text() == "ran\n"
    assert callbacks.statuses(job.job_id) == [DiracStatus.RUNNING, DiracStatus.DONE]


async def test_max_parallel_queues_the_rest_in_order(make_backend, wait_until, jobs, work_root: Path) -> None:
    backend = make_backend(max_parallel=1)
    first, second, third = (jobs.python(jobs.WAIT_FOR_GO) for _ in range(3))
    for job in (first, second, third):
        await backend.submit(job)
    ids = [str(j.job_id) for j in (first, second, third)]
    assert [await _status(backend, i) for i in ids] == [DiracStatus.RUNNING, DiracStatus.WAITING,
                                                       DiracStatus.WAITING]
    assert (backend.running_count, backend.waiting_count) == (1, 2)

    (work_root / ids[0] / "go").touch()
    await wait_until(lambda: _is(backend, ids[1], DiracStatus.RUNNING), what="second job started")
    assert await _status(backend, ids[0]) is DiracStatus.DONE
    assert await _status(backend, ids[2]) is DiracStatus.WAITING
    (work_root / ids[1] / "go").touch()
    (work_root / ids[2] / "go").touch()
    await wait_until(lambda: _is(backend, ids[2], DiracStatus.DONE), what="third job done")


async def _is(backend: Any, job_id: str, status: DiracStatus) -> bool:
    return await _status(backend, job_id) is status


async def test_the_executor_tells_its_own_observer_of_the_start_and_of_the_end_with_results(
        make_backend, wait_until, jobs) -> None:
    seen: list[tuple[Any, Any]] = []
    backend = make_backend(on_status=lambda job_id, status, _backend_job_id: seen.append((job_id, status)))
    job = jobs.make(jobs.workflow("hello-world"), HELLO)
    await backend.submit(job)
    await wait_until(lambda: len(seen) == 2, what="start and end observed")
    (first_id, started), (second_id, ended) = seen
    assert first_id == second_id == job.job_id
    assert started.status is DiracStatus.RUNNING and started.started_at is not None and not started.results
    assert ended.status is DiracStatus.DONE and ended.exit_code == 0
    assert ended.started_at == started.started_at and ended.ended_at is not None
    assert [r.name for r in ended.results] == ["stdout", "stderr", "helloworld.json"]


async def test_each_attempt_runs_in_its_own_directory_and_a_redelivery_makes_no_second_run(
        make_backend, callbacks, wait_until, jobs, work_root: Path) -> None:
    backend = make_backend(callback_client=callbacks)
    first = jobs.python("print('attempt')")
    first_id = await backend.submit(first)
    await wait_until(lambda: DiracStatus.DONE in callbacks.statuses(first.job_id), what="first attempt Done")
    second = first.model_copy(update={"attempt": 2})
    second_id = await backend.submit(second)
    assert (first_id, second_id) == (str(first.job_id), f"{first.job_id}_2")
    await wait_until(lambda: callbacks.statuses(first.job_id).count(DiracStatus.DONE) == 2, what="second Done")
    ran = read_state(work_root / second_id)
    assert await backend.submit(second) == second_id  # redelivered: the attempt's own job, not run again
    assert read_state(work_root / second_id) == ran and backend.running_count == 0
    assert sorted(name for name in os.listdir(work_root) if not name.startswith(".")) == [first_id, second_id]

"""The whole chain with the four services as separate processes on real PostgreSQL and RabbitMQ:
gateway -> bus -> catalog -> submitter -> local executor -> callback/monitor -> catalog -> gateway."""

import json
import os
from pathlib import Path

import httpx
import pytest
from tests.e2e.uws_client import create_job, read_job, wait_for_phase

from esap_backends.local.layout import read_state

pytestmark = pytest.mark.e2e


async def test_hello_world_runs_to_completed_with_its_results(client: httpx.AsyncClient) -> None:
    job_id = await create_job(client, workflow="hello-world", facility="local", Parameter1="999", PHASE="RUN")

    job = await wait_for_phase(client, job_id, {"COMPLETED"}, within=30)

    assert job.starttime is not None and job.endtime is not None
    results = {r.id_: r for r in job.results}
    assert {"stdout", "stderr", "helloworld.json"} <= set(results)
    result = results["helloworld.json"]
    assert result.mimetype == "application/json"
    content = (await client.get(result.href)).content
    assert int(result.size) == len(content)
    assert '"Parameter1": "999"' in content.decode()
    assert json.loads(content) == {"Parameter1": "999", "Parameter2": "2", "Parameter3": "33",
                                   "Parameter4": "GG", "Parameter5": "test", "Parameter6": "default"}
    stdout = (await client.get(results["stdout"].href)).json()
    assert stdout["Parameter1"] == "999"


async def test_a_job_created_without_run_waits_in_pending_then_runs(client: httpx.AsyncClient) -> None:
    job_id = await create_job(client, workflow="noop", facility="local")
    assert (await read_job(client, job_id)).phase == "PENDING"

    response = await client.post(f"/uws/jobs/{job_id}/phase", data={"PHASE": "RUN"}, follow_redirects=False)

    assert response.status_code == 303
    await wait_for_phase(client, job_id, {"COMPLETED"}, within=30)


async def test_abort_of_an_executing_job_kills_its_process(client: httpx.AsyncClient, work_root: Path) -> None:
    job_id = await create_job(client, workflow="sleep", facility="local", seconds="120", PHASE="RUN")
    await wait_for_phase(client, job_id, {"EXECUTING"}, within=30)
    state = read_state(work_root / job_id)
    assert state is not None and state.pid is not None
    pid = state.pid
    os.kill(pid, 0)  # running now

    response = await client.post(f"/uws/jobs/{job_id}/phase", data={"PHASE": "ABORT"}, follow_redirects=False)

    assert response.status_code == 303
    job = await wait_for_phase(client, job_id, {"ABORTED"}, within=30)
    assert job.endtime is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


async def test_a_failing_payload_ends_in_error_with_a_summary(client: httpx.AsyncClient) -> None:
    job_id = await create_job(client, workflow="sleep", facility="local", seconds="not-a-number", PHASE="RUN")

    job = await wait_for_phase(client, job_id, {"ERROR"}, within=30)

    assert job.errorsummary is not None
    assert "exit code" in str(job.errorsummary.message.content)


async def test_execution_duration_is_enforced(client: httpx.AsyncClient) -> None:
    job_id = await create_job(client, workflow="sleep", facility="local", seconds="120",
                              EXECUTIONDURATION="1", PHASE="RUN")

    job = await wait_for_phase(client, job_id, {"ABORTED", "ERROR"}, within=30)

    assert job.errorsummary is not None
    assert "exceeded" in str(job.errorsummary.message.content)

"""No job is lost or left stuck when a service is killed (SIGKILL, no clean-up) mid-job and started again."""

import asyncio

import httpx
import pytest
from tests.e2e.uws_client import create_job, read_job, wait_for_phase

from esap_runtime.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("service", ["submitter", "monitor", "catalog"])
async def test_a_service_killed_mid_job_loses_nothing(stack: Stack, client: httpx.AsyncClient, service: str) -> None:
    running = await create_job(client, workflow="sleep", facility="local", seconds="3", PHASE="RUN")
    await wait_for_phase(client, running, {"EXECUTING"}, within=30)

    await asyncio.to_thread(stack.kill, service)
    # Work keeps arriving while the service is down: a job submitted now must not be lost either.
    if service != "catalog":
        queued = await create_job(client, workflow="hello-world", facility="local", PHASE="RUN")
    await asyncio.sleep(4)  # the sleep job ends while the service is down
    await asyncio.to_thread(stack.start, service)

    job = await wait_for_phase(client, running, {"COMPLETED"}, within=60)
    assert job.endtime is not None
    if service != "catalog":
        await wait_for_phase(client, queued, {"COMPLETED"}, within=60)


async def test_a_job_submitted_while_the_catalog_is_down_is_created_when_it_returns(
    stack: Stack, client: httpx.AsyncClient
) -> None:
    await asyncio.to_thread(stack.kill, "catalog")
    # The gateway cannot validate against the catalog now: it must say so, not accept blindly or crash.
    response = await client.post("/uws/jobs", data={"workflow": "noop", "PHASE": "RUN"}, follow_redirects=False)
    assert response.status_code in (303, 503), response.text
    await asyncio.to_thread(stack.start, "catalog")
    if response.status_code == 303:
        job_id = response.headers["location"].rsplit("/", 1)[-1]
        await wait_for_phase(client, job_id, {"COMPLETED"}, within=60)
    job_id = await create_job(client, workflow="noop", PHASE="RUN")
    assert (await read_job(client, job_id)).phase in {"QUEUED", "EXECUTING", "COMPLETED"}

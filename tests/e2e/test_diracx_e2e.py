"""The whole chain on the CTADIRAC facility against a real DiracX (the development server) and the test pilot:
gateway -> catalog -> submitter -> DiracX -> pilot runs the job -> monitor polls DiracX -> catalog -> gateway."""

import asyncio
import re
from collections.abc import AsyncIterator

import aiohttp
import httpx
import pytest
from tests.e2e.uws_client import create_job, wait_for_phase

from esap_backends.diracx.devserver import ADMIN_GROUP, DevServer
from esap_backends.diracx.pilot import TestPilot
from esap_backends.diracx.testing import client_for, diracx_env, diracx_server, pilot  # noqa: F401
from esap_runtime.stack import Stack

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
async def stack(diracx_env: None, stack: Stack) -> AsyncIterator[Stack]:  # noqa: F811
    yield stack


async def backend_job_id(client: httpx.AsyncClient, job_id: str) -> str:
    """The DIRAC job id, from the job's jobInfo."""
    found = re.search(r"backendJobId>(\d+)<", (await client.get(f"/uws/jobs/{job_id}")).text)
    assert found is not None
    return found.group(1)


async def wait_for_backend_job_id(client: httpx.AsyncClient, job_id: str, within: float) -> str:
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = re.search(r"backendJobId>(\d+)<", (await client.get(f"/uws/jobs/{job_id}")).text)
        if found is not None:
            return found.group(1)
        assert asyncio.get_running_loop().time() < deadline, f"job {job_id} was never submitted to DiracX"
        await asyncio.sleep(0.2)


async def dirac_status(server: DevServer, dirac_id: str) -> str:
    async with aiohttp.ClientSession() as session:
        rows = await client_for(server, session, ADMIN_GROUP).search(("JobID", "Status"), [
            {"parameter": "JobID", "operator": "eq", "value": int(dirac_id)}])
    return str(rows[0]["Status"])


async def test_hello_world_on_ctadirac_completes_with_its_output_sandbox_as_results(
        client: httpx.AsyncClient, pilot: TestPilot) -> None:  # noqa: F811
    job_id = await create_job(client, workflow="hello-world", facility="ctadirac", Parameter1='a "b" {c}=d',
                              PHASE="RUN")

    job = await wait_for_phase(client, job_id, {"COMPLETED"}, within=60)

    assert job.starttime is not None and job.endtime is not None
    results = {r.id_: r for r in job.results}
    assert {"stdout", "helloworld.json"} <= set(results)
    content = (await client.get(results["helloworld.json"].href)).json()
    assert content == {"Parameter1": 'a "b" {c}=d', "Parameter2": "2", "Parameter3": "33", "Parameter4": "GG",
                       "Parameter5": "test", "Parameter6": "default"}
    assert int(results["helloworld.json"].size) > 0


async def test_abort_of_a_running_dirac_job_ends_killed_and_aborted(
        client: httpx.AsyncClient, pilot: TestPilot, diracx_server: DevServer) -> None:  # noqa: F811
    pilot.hold_payloads = True
    job_id = await create_job(client, workflow="hello-world", facility="ctadirac", PHASE="RUN")
    await wait_for_phase(client, job_id, {"EXECUTING"}, within=60)
    dirac_id = await backend_job_id(client, job_id)
    assert await dirac_status(diracx_server, dirac_id) == "Running"

    response = await client.post(f"/uws/jobs/{job_id}/phase", data={"PHASE": "ABORT"}, follow_redirects=False)

    assert response.status_code == 303
    job = await wait_for_phase(client, job_id, {"ABORTED"}, within=60)
    assert job.endtime is not None
    assert await dirac_status(diracx_server, dirac_id) == "Killed"


async def test_a_diracx_outage_mid_run_loses_nothing(client: httpx.AsyncClient, pilot: TestPilot,  # noqa: F811
                                                     diracx_server: DevServer) -> None:  # noqa: F811
    pilot.paused = True
    diracx_server.stop_api()
    try:
        job_id = await create_job(client, workflow="hello-world", facility="ctadirac", PHASE="RUN")
        assert (await wait_for_phase(client, job_id, {"QUEUED"}, within=30)).phase == "QUEUED"
        await asyncio.sleep(3)  # the submitter is retrying meanwhile: the job must stay QUEUED, not ERROR
        assert (await wait_for_phase(client, job_id, {"QUEUED"}, within=5)).phase == "QUEUED"
    finally:
        await asyncio.to_thread(diracx_server.start_api)
    dirac_id = await wait_for_backend_job_id(client, job_id, within=60)
    diracx_server.stop_api()  # again, while the monitor polls it
    try:
        await asyncio.sleep(2)
        assert (await wait_for_phase(client, job_id, {"QUEUED"}, within=5)).phase == "QUEUED"
    finally:
        await asyncio.to_thread(diracx_server.start_api)
    pilot.paused = False

    job = await wait_for_phase(client, job_id, {"COMPLETED"}, within=60)

    assert {"stdout", "helloworld.json"} <= {r.id_ for r in job.results}
    assert await dirac_status(diracx_server, dirac_id) == "Done"

"""The UWS 1.1 service end to end, driven by a real client (pyvo's job control and parser) against the four
services: run, WAIT=-1, results, abort, delete; WAIT woken by the change; two users kept apart; a job passing
its destruction time; parameters changed while PENDING; the synchronous pattern. Every job document is
validated against the UWS 1.1 schema."""

import asyncio
import io
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import xmlschema
from pyvo.dal.exceptions import DALServiceError
from pyvo.dal.tap import AsyncTAPJob
from pyvo.io.uws import parse_job, parse_job_list
from tests.e2e.uws_client import create_job, wait_for_phase

from esap_runtime.stack import Stack

pytestmark = pytest.mark.e2e

ALICE = {"Authorization": "Bearer token-a"}
BOB = {"Authorization": "Bearer token-b"}
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def uws_schema() -> xmlschema.XMLSchema:
    path = Path(os.environ.get("ESAP_UWS_XSD", ROOT.parent / "shared" / "vo" / "UWS-v1.1.xsd"))
    if not path.is_file():
        pytest.fail(f"The UWS 1.1 schema is missing at {path} (set ESAP_UWS_XSD)", pytrace=False)
    return xmlschema.XMLSchema(str(path))


@pytest.fixture
async def alice(stack: Stack) -> Any:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=90, headers=ALICE) as http:
        yield http


def pyvo_session() -> requests.Session:
    session = requests.Session()
    session.headers.update(ALICE)
    return session


async def read(http: httpx.AsyncClient, schema: xmlschema.XMLSchema, job_id: str, **params: Any) -> Any:
    response = await http.get(f"/uws/jobs/{job_id}", params=params)
    assert response.status_code == 200, response.text
    schema.validate(response.content)
    return parse_job(io.BytesIO(response.content))


async def test_pyvo_runs_waits_reads_results_and_deletes(stack: Stack, alice: httpx.AsyncClient) -> None:
    job_id = await create_job(alice, workflow="hello-world", Parameter1="pyvo")
    url = f"{stack.gateway_url}/uws/jobs/{job_id}"

    def drive() -> tuple[str, list[str], bytes]:
        job = AsyncTAPJob(url, session=pyvo_session(), delete=False)
        assert job.phase == "PENDING" and job.owner == "alice"
        job.run()
        job.wait(phases={"COMPLETED", "ERROR", "ABORTED"}, timeout=60)
        uris = job.result_uris
        content = job._session.get(next(u for u in uris if u.endswith("helloworld.json"))).content
        phase = job.phase
        job.delete()
        return phase, uris, content

    phase, uris, content = await asyncio.to_thread(drive)

    assert phase == "COMPLETED" and len(uris) == 4 and uris[0].endswith("/results/result")
    assert b'"Parameter1": "pyvo"' in content
    deadline = time.monotonic() + 10  # the deletion is a command: applied moments after the 303
    while job_id in [j.jobid for j in parse_job_list(io.BytesIO((await alice.get("/uws/jobs")).content))]:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    assert (await alice.get(f"/uws/jobs/{job_id}")).status_code == 404


async def test_pyvo_fetches_a_completed_job_s_main_result_as_a_table(stack: Stack, alice: httpx.AsyncClient) -> None:
    job_id = await create_job(alice, workflow="table", rows="7")
    url = f"{stack.gateway_url}/uws/jobs/{job_id}"

    def drive() -> tuple[str, list[int]]:
        job = AsyncTAPJob(url, session=pyvo_session(), delete=False)
        job.run()
        job.wait(phases={"COMPLETED", "ERROR", "ABORTED"}, timeout=60)
        table = job.fetch_result().to_table()
        return job.result_uri, [int(value) for value in table["square"]]

    uri, squares = await asyncio.to_thread(drive)

    assert uri == f"{url}/results/result"
    assert squares == [1, 4, 9, 16, 25, 36, 49]


async def test_pyvo_aborts_a_running_job(stack: Stack, alice: httpx.AsyncClient) -> None:
    job_id = await create_job(alice, workflow="sleep", seconds="60", PHASE="RUN")
    # Not pyvo's wait for EXECUTING: it sends WAIT without PHASE, so a job already EXECUTING when it asks holds
    # the request until the job's next change, and a job that then ends makes it loop for ever.
    await wait_for_phase(alice, job_id, {"EXECUTING"}, within=30)

    def drive() -> str:
        job = AsyncTAPJob(f"{stack.gateway_url}/uws/jobs/{job_id}", session=pyvo_session(), delete=False)
        job.abort()
        # ABORT is asynchronous (the kill is verified first): wait as a client would, retrying a failed wait.
        deadline, errors = time.monotonic() + 60, []
        while time.monotonic() < deadline:
            try:
                job.wait(phases={"ABORTED", "ERROR", "COMPLETED"}, timeout=60)
                break
            except DALServiceError as exc:
                # pyvo's wait() counts ABORTED as "not active" and raises once it sees it: its way of ending.
                if "not active" in str(exc):
                    break
                errors.append(str(exc))
        phase = str(job.phase)
        return phase if phase == "ABORTED" else f"{phase} after waits that failed: {errors}"

    assert await asyncio.to_thread(drive) == "ABORTED"


async def test_wait_returns_when_the_job_completes_and_at_once_when_it_has(
        alice: httpx.AsyncClient, uws_schema: xmlschema.XMLSchema) -> None:
    job_id = await create_job(alice, workflow="sleep", seconds="2", PHASE="RUN")
    job = await wait_for_phase(alice, job_id, {"EXECUTING", "COMPLETED"}, within=30)
    if job.phase == "EXECUTING":
        start = time.monotonic()
        job = await read(alice, uws_schema, job_id, WAIT="-1", PHASE="EXECUTING")
        assert job.phase == "COMPLETED" and time.monotonic() - start < 10
    start = time.monotonic()
    finished = await read(alice, uws_schema, job_id, WAIT="30")
    assert finished.phase == "COMPLETED" and time.monotonic() - start < 1


async def test_two_users_cannot_see_or_touch_each_other_s_jobs(stack: Stack, alice: httpx.AsyncClient) -> None:
    job_id = await create_job(alice, workflow="noop")
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30, headers=BOB) as bob:
        assert (await bob.get(f"/uws/jobs/{job_id}")).status_code == 403
        assert (await bob.post(f"/uws/jobs/{job_id}/phase", data={"PHASE": "RUN"})).status_code == 403
        assert (await bob.delete(f"/uws/jobs/{job_id}")).status_code == 403
        theirs = parse_job_list(io.BytesIO((await bob.get("/uws/jobs")).content))
        assert job_id not in [j.jobid for j in theirs]
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as anonymous:
        assert (await anonymous.get(f"/uws/jobs/{job_id}")).status_code == 403
    mine = parse_job_list(io.BytesIO((await alice.get("/uws/jobs", params={"WORKFLOW": "noop"})).content))
    assert job_id in [j.jobid for j in mine]


async def test_a_job_past_its_destruction_time_becomes_archived(alice: httpx.AsyncClient,
                                                                uws_schema: xmlschema.XMLSchema) -> None:
    destruction = (datetime.now(UTC) + timedelta(seconds=4)).isoformat()
    job_id = await create_job(alice, workflow="hello-world", PHASE="RUN", DESTRUCTION=destruction)
    completed = await wait_for_phase(alice, job_id, {"COMPLETED"}, within=30)
    assert completed.results
    deadline = time.monotonic() + 30
    job = completed
    while job.phase != "ARCHIVED":
        assert time.monotonic() < deadline, f"job stayed {job.phase}"
        await asyncio.sleep(0.25)
        job = await read(alice, uws_schema, job_id)
    assert job.results == [] and job.endtime is not None
    listed = parse_job_list(io.BytesIO((await alice.get("/uws/jobs")).content))
    assert job_id not in [j.jobid for j in listed]
    archived = parse_job_list(io.BytesIO((await alice.get("/uws/jobs", params={"PHASE": "ARCHIVED"})).content))
    assert job_id in [j.jobid for j in archived]


async def test_parameters_change_while_pending_then_the_job_runs_with_them(
        alice: httpx.AsyncClient, uws_schema: xmlschema.XMLSchema) -> None:
    job_id = await create_job(alice, workflow="hello-world")
    response = await alice.post(f"/uws/jobs/{job_id}/parameters", data={"parameter2": "changed"})
    assert response.status_code == 303
    deadline = time.monotonic() + 10
    while {p.id_: p.content for p in (await read(alice, uws_schema, job_id)).parameters}["Parameter2"] != "changed":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.1)
    assert (await alice.post(f"/uws/jobs/{job_id}/executionduration", data={"EXECUTIONDURATION": "-5"})
            ).status_code == 400
    await alice.post(f"/uws/jobs/{job_id}/phase", data={"PHASE": "RUN"})
    await wait_for_phase(alice, job_id, {"COMPLETED"}, within=30)
    refused = await alice.post(f"/uws/jobs/{job_id}/parameters", data={"Parameter2": "late"})
    assert refused.status_code == 403 and "PENDING" in refused.text


async def test_sync_redirects_to_the_main_result(alice: httpx.AsyncClient) -> None:
    response = await alice.get("/uws/sync", params={"WORKFLOW": "hello-world", "Parameter3": "sync"},
                               follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"].endswith("/results/result")
    content = await alice.get(response.headers["location"])
    assert content.status_code == 200 and content.json()["Parameter3"] == "sync"

"""A 303 is read-your-writes: every state change's redirect target, read at once (no sleep between), shows the
change, because the gateway answers only once the catalog has settled the command."""

import io
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pyvo.io.uws import parse_job

from esap_runtime.stack import Stack

pytestmark = pytest.mark.e2e

ALICE = {"Authorization": "Bearer token-a"}


@pytest.fixture
async def alice(stack: Stack) -> httpx.AsyncClient:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30, headers=ALICE) as http:
        yield http  # type: ignore[misc]


async def follow(http: httpx.AsyncClient, response: httpx.Response) -> httpx.Response:
    assert response.status_code == 303, response.text
    return await http.get(response.headers["location"])


def job_of(response: httpx.Response):  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return parse_job(io.BytesIO(response.content))


async def created(http: httpx.AsyncClient, **fields: str) -> tuple[str, object]:
    response = await http.post("/uws/jobs", data=fields, follow_redirects=False)
    job = job_of(await follow(http, response))
    return response.headers["location"].rsplit("/", 1)[-1], job


@pytest.mark.parametrize("rounds", range(5))
async def test_a_created_job_is_there_when_its_303_is_followed(alice: httpx.AsyncClient, rounds: int) -> None:
    _, pending = await created(alice, workflow="noop")
    _, running = await created(alice, workflow="noop", PHASE="RUN")

    assert pending.phase == "PENDING"  # type: ignore[attr-defined]
    assert running.phase in {"QUEUED", "EXECUTING", "COMPLETED"}  # type: ignore[attr-defined]


@pytest.mark.parametrize("spelling", ["PHASE", "phase"])
async def test_run_shows_at_once(alice: httpx.AsyncClient, spelling: str) -> None:
    job_id, _ = await created(alice, workflow="noop")

    job = job_of(await follow(alice, await alice.post(f"/uws/jobs/{job_id}/phase", data={spelling: "run"})))

    assert job.phase in {"QUEUED", "EXECUTING", "COMPLETED"}


async def test_abort_shows_at_once_as_aborted_or_as_a_kill_requested(alice: httpx.AsyncClient) -> None:
    pending, _ = await created(alice, workflow="sleep", seconds="30")
    running, _ = await created(alice, workflow="sleep", seconds="30", PHASE="RUN")

    before_run = await follow(alice, await alice.post(f"/uws/jobs/{pending}/phase", data={"PHASE": "ABORT"}))
    under_way = await follow(alice, await alice.post(f"/uws/jobs/{running}/phase", data={"PHASE": "ABORT"}))

    assert job_of(before_run).phase == "ABORTED"
    # A job the backend holds ends ABORTED once the backend confirms the kill; until then jobInfo says it is asked.
    assert job_of(under_way).phase == "ABORTED" or b"<esap:abortRequested>" in under_way.content


async def test_destruction_duration_and_parameters_show_at_once(alice: httpx.AsyncClient) -> None:
    job_id, _ = await created(alice, workflow="hello-world")
    when = (datetime.now(UTC) + timedelta(days=3)).replace(microsecond=0)

    destroyed = job_of(await follow(alice, await alice.post(f"/uws/jobs/{job_id}/destruction",
                                                            data={"DESTRUCTION": when.isoformat()})))
    duration = job_of(await follow(alice, await alice.post(f"/uws/jobs/{job_id}/executionduration",
                                                           data={"EXECUTIONDURATION": "321"})))
    parameters = job_of(await follow(alice, await alice.post(f"/uws/jobs/{job_id}/parameters",
                                                             data={"Parameter2": "changed"})))

    assert destroyed.destruction == when
    assert duration.executionduration.to_value("s") == 321
    assert {p.id_: p.content for p in parameters.parameters}["Parameter2"] == "changed"


@pytest.mark.parametrize("how", ["DELETE", "ACTION=DELETE"])
async def test_a_deleted_job_is_gone_at_once(alice: httpx.AsyncClient, how: str) -> None:
    job_id, _ = await created(alice, workflow="noop", PHASE="RUN")

    if how == "DELETE":
        response = await alice.delete(f"/uws/jobs/{job_id}")
    else:
        response = await alice.post(f"/uws/jobs/{job_id}", data={"ACTION": "DELETE"})

    assert response.status_code == 303 and response.headers["location"].endswith("/uws/jobs?LAST=20")
    assert (await alice.get(f"/uws/jobs/{job_id}")).status_code == 404
    assert job_id not in (await follow(alice, response)).text

"""A small UWS client for the end-to-end tests: create, wait, read, list, as an astronomy client would (pyvo's
parser)."""

import io
import time
from typing import Any

import httpx
from pyvo.io.uws import parse_job

FINAL = {"COMPLETED", "ERROR", "ABORTED", "ARCHIVED"}


async def create_job(client: httpx.AsyncClient, **fields: str) -> str:
    response = await client.post("/uws/jobs", data=fields, follow_redirects=False)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    return location.rstrip("/").rsplit("/", 1)[-1]


async def read_job(client: httpx.AsyncClient, job_id: str, **params: Any) -> Any:
    response = await client.get(f"/uws/jobs/{job_id}", params=params)
    assert response.status_code == 200, response.text
    return parse_job(io.BytesIO(response.content))


async def wait_for_phase(client: httpx.AsyncClient, job_id: str, phases: set[str], within: float = 60.0) -> Any:
    """Long-poll with WAIT (as pyvo does) until the job is in one of ``phases``, or fail."""
    deadline = time.monotonic() + within
    job = await read_job(client, job_id)
    while job.phase not in phases:
        remaining = deadline - time.monotonic()
        assert remaining > 0, f"job {job_id} stayed {job.phase}, expected {phases}"
        assert job.phase not in FINAL, f"job {job_id} ended {job.phase}, expected {phases}"
        # PHASE names the phase this client saw: without it the server waits on the phase it finds, and a
        # change between the two reads would be slept through.
        job = await read_job(client, job_id, WAIT=max(1, int(min(remaining, 30))), PHASE=job.phase)
    return job


async def listed(client: httpx.AsyncClient, **params: str) -> list[str]:
    """Every job id of a listing, page after page."""
    found: list[str] = []
    url: str | None = "/uws/jobs"
    query: dict[str, str] | None = {**params, "LAST": "40"}
    while url is not None:
        page = (await client.get(url, params=query, headers={"accept": "application/json"})).json()
        found += [job["jobId"] for job in page["jobs"]]
        url, query = page.get("next"), None
    return found

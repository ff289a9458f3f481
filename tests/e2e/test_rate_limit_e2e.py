"""An owner's changes beyond the configured rate are answered 429 with Retry-After, which pyvo turns into
DALRateLimitError with the delay, so a VO client can back off when told how."""

import asyncio
import io

import httpx
import pytest
import requests
from pyvo.dal import AsyncTAPJob, DALRateLimitError
from pyvo.io.uws import parse_job
from tests.e2e.uws_client import create_job

from esap_runtime.stack import Stack

pytestmark = pytest.mark.e2e

STACK_ENV = {"GATEWAY_RATE_LIMIT_PER_MINUTE": "3"}
ALICE = {"Authorization": "Bearer token-a"}


async def test_pyvo_hears_the_rate_limit_with_its_delay(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=ALICE, timeout=30) as alice:
        jobs = [await create_job(alice, workflow="noop") for _ in range(3)]
        refused = await alice.post("/uws/jobs", data={"WORKFLOW": "noop"}, follow_redirects=False)
        assert refused.status_code == 429 and refused.headers["retry-after"] == "20"
        # Reads are not counted.
        assert parse_job(io.BytesIO((await alice.get(f"/uws/jobs/{jobs[0]}")).content)).phase == "PENDING"

    def run_with_pyvo() -> DALRateLimitError:
        session = requests.Session()
        session.headers.update(ALICE)
        job = AsyncTAPJob(f"{stack.gateway_url}/uws/jobs/{jobs[0]}", session=session, delete=False)
        with pytest.raises(DALRateLimitError) as raised:
            job.run()
        return raised.value

    error = await asyncio.to_thread(run_with_pyvo)

    assert error.retry_after_seconds is not None and 1 <= error.retry_after_seconds <= 20

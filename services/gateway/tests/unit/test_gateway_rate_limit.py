"""Per owner, state-changing requests beyond the configured rate are refused with 429 and the seconds to wait;
reads are never counted, and other owners are not held back."""

from urllib.parse import urlencode

import httpx
import pytest
from fastapi import FastAPI

from esap_gateway.config import Settings
from esap_gateway.domain.errors import RateLimitedError
from esap_gateway.main import create_app
from esap_gateway.services.ratelimit import RateLimiter

from ..conftest import Clock

FORM = {"content-type": "application/x-www-form-urlencoded"}


def test_a_bucket_allows_its_burst_then_one_request_per_interval() -> None:
    clock = Clock()
    limiter = RateLimiter(60, clock=clock)
    for _ in range(60):
        limiter.take("alice")
    with pytest.raises(RateLimitedError) as refused:
        limiter.take("alice")
    assert refused.value.retry_after == 1
    limiter.take("bob")  # another owner has a bucket of its own
    clock.now += 1.0
    limiter.take("alice")
    with pytest.raises(RateLimitedError):
        limiter.take("alice")


def test_no_limit_when_the_rate_is_zero() -> None:
    limiter = RateLimiter(0)
    for _ in range(10_000):
        limiter.take(None)


@pytest.fixture
async def limited(work_root, catalog, publisher) -> httpx.AsyncClient:  # type: ignore[no-untyped-def]
    settings = Settings(local_work_root=work_root, rate_limit_per_minute=3,
                        static_tokens='{"token-a": "alice", "token-b": "bob"}')  # type: ignore[arg-type]
    app: FastAPI = create_app(settings, catalog=catalog, publisher=publisher)
    transport = httpx.ASGITransport(app=app)
    async with app.router.lifespan_context(app), httpx.AsyncClient(transport=transport,
                                                                   base_url="http://gateway.test") as http:
        yield http  # type: ignore[misc]


async def test_beyond_the_rate_a_change_is_a_429_with_retry_after_and_reads_go_on(limited, publisher) -> None:
    alice = {"authorization": "Bearer token-a", **FORM}
    created = [await limited.post("/uws/jobs", content=urlencode({"WORKFLOW": "noop"}), headers=alice)
               for _ in range(3)]
    assert [r.status_code for r in created] == [303, 303, 303]

    refused = await limited.post("/uws/jobs", content=urlencode({"WORKFLOW": "noop"}), headers=alice)
    job = created[0].headers["location"].rsplit("/", 1)[-1]
    aborted = await limited.post(f"/uws/jobs/{job}/phase", content="PHASE=ABORT", headers=alice)

    assert refused.status_code == 429 and refused.headers["retry-after"] == "20"
    assert aborted.status_code == 429
    assert (await limited.get("/uws/jobs", headers=alice)).status_code == 200
    bob = {"authorization": "Bearer token-b", **FORM}
    assert (await limited.post("/uws/jobs", content=urlencode({"WORKFLOW": "noop"}), headers=bob)).status_code == 303
    assert len(publisher.published) == 4

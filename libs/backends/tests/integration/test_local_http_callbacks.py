"""HttpCallbackClient against a real HTTP server on loopback: bearer token, retries on 5xx, no retry on 4xx."""

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from esap_backends.local import CallbackError, CallbackRejectedError, HttpCallbackClient
from esap_messages import DiracStatus, new_id, utcnow
from esap_messages.api import CallbackReport


class Gateway:
    def __init__(self) -> None:
        self.answers: list[int] = []
        self.seen: list[tuple[str, str, CallbackReport]] = []

    async def callback(self, request: web.Request) -> web.Response:
        report = CallbackReport.model_validate_json(await request.read())
        self.seen.append((request.match_info["job_id"], request.headers["Authorization"], report))
        status = self.answers.pop(0) if self.answers else 204
        return web.Response(status=status)


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[Gateway, str]]:
    fake = Gateway()
    app = web.Application()
    app.router.add_post("/uws/jobs/{job_id}/callback", fake.callback)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield fake, str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def test_a_report_is_posted_with_the_bearer_token(gateway, session) -> None:
    fake, url = gateway
    job_id = new_id()
    report = CallbackReport(status=DiracStatus.RUNNING, started_at=utcnow())
    await HttpCallbackClient(session, url + "/").report(job_id, "tok-123", report)
    assert fake.seen == [(str(job_id), "Bearer tok-123", report)]


async def test_server_errors_are_retried(gateway, session) -> None:
    fake, url = gateway
    fake.answers = [503, 500]
    client = HttpCallbackClient(session, url, attempts=3, backoff_seconds=0.01)
    await client.report(new_id(), "t", CallbackReport(status=DiracStatus.DONE, exit_code=0))
    assert len(fake.seen) == 3


async def test_a_refusal_is_not_retried(gateway, session) -> None:
    fake, url = gateway
    fake.answers = [403]
    client = HttpCallbackClient(session, url, attempts=3, backoff_seconds=0.01)
    with pytest.raises(CallbackRejectedError):
        await client.report(new_id(), "t", CallbackReport(status=DiracStatus.DONE))
    assert len(fake.seen) == 1


async def test_an_unreachable_gateway_gives_up_after_the_attempts(session) -> None:
    client = HttpCallbackClient(session, "http://127.0.0.1:9", attempts=2, backoff_seconds=0.01)
    with pytest.raises(CallbackError, match="after 2 attempts"):
        await client.report(new_id(), "t", CallbackReport(status=DiracStatus.RUNNING))

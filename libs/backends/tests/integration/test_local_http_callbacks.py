"""Local jobs' reports against a real HTTP server on loopback: batched to /uws/callbacks with each job's token,
answered per report, retried on 5xx, not on 4xx; the sender keeps each job's reports in order."""

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from esap_backends.local import CallbackError, CallbackRejectedError, CallbackSender, HttpCallbackClient
from esap_messages import DiracStatus, new_id, utcnow
from esap_messages.api import CallbackBatch, CallbackReport, JobCallback, ReportOutcome, ReportOutcomes
from esap_runtime.internal_http import InternalHttpClient

TOKEN = "t" * 24


class Gateway:
    def __init__(self) -> None:
        self.answers: list[int] = []
        self.refuse: set[object] = set()
        self.late: set[object] = set()
        self.requests: list[CallbackBatch] = []
        self.hold = asyncio.Event()
        self.hold.set()
        self.received = asyncio.Event()

    async def callbacks(self, request: web.Request) -> web.Response:
        batch = CallbackBatch.model_validate_json(await request.read())
        self.requests.append(batch)
        self.received.set()
        await self.hold.wait()
        status = self.answers.pop(0) if self.answers else 200
        if status != 200:
            return web.Response(status=status)
        outcomes = ReportOutcomes(outcomes=[
            ReportOutcome(job_id=r.job_id, accepted=r.job_id not in self.refuse | self.late,
                          late=r.job_id in self.late) for r in batch.reports])
        return web.Response(body=outcomes.model_dump_json(), content_type="application/json")

    def reports(self) -> list[JobCallback]:
        return [r for batch in self.requests for r in batch.reports]


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[Gateway, str]]:
    fake = Gateway()
    app = web.Application()
    app.router.add_post("/uws/callbacks", fake.callbacks)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield fake, str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
async def http() -> AsyncIterator[InternalHttpClient]:
    client = InternalHttpClient.open(max_connections=16)
    yield client
    await client.close()


def report(status: DiracStatus = DiracStatus.RUNNING) -> JobCallback:
    return JobCallback(job_id=new_id(), token=TOKEN, report=CallbackReport(status=status, started_at=utcnow()))


async def test_reports_are_posted_with_their_tokens_and_answered_one_by_one(gateway, http) -> None:
    fake, url = gateway
    taken, refused, late = report(), report(DiracStatus.DONE), report(DiracStatus.DONE)
    fake.refuse.add(refused.job_id)
    fake.late.add(late.job_id)
    outcomes = await HttpCallbackClient(http, url + "/").report_many([taken, refused, late])
    assert [(o.accepted, o.late) for o in outcomes] == [(True, False), (False, False), (False, True)]
    assert fake.reports() == [taken, refused, late]


async def test_server_errors_are_retried(gateway, http) -> None:
    fake, url = gateway
    fake.answers = [503, 500]
    client = HttpCallbackClient(http, url, attempts=3, backoff_seconds=0.01)
    assert [o.accepted for o in await client.report_many([report(DiracStatus.DONE)])] == [True]
    assert len(fake.requests) == 3


async def test_a_refusal_is_not_retried(gateway, http) -> None:
    fake, url = gateway
    fake.answers = [422]
    client = HttpCallbackClient(http, url, attempts=3, backoff_seconds=0.01)
    with pytest.raises(CallbackRejectedError):
        await client.report_many([report(DiracStatus.DONE)])
    assert len(fake.requests) == 1


async def test_an_unreachable_gateway_gives_up_after_the_attempts(http) -> None:
    client = HttpCallbackClient(http, "http://127.0.0.1:9", attempts=2, backoff_seconds=0.01)
    with pytest.raises(CallbackError, match="after 2 attempts"):
        await client.report_many([report()])


async def test_the_sender_batches_reports_due_together_and_keeps_each_jobs_order(gateway, http) -> None:
    fake, url = gateway
    sender = CallbackSender(HttpCallbackClient(http, url))
    fake.hold.clear()
    first = report()
    sender.send(first.job_id, first.token, first.report)
    await asyncio.wait_for(fake.received.wait(), 5)
    # While the first request is out, 50 jobs start and the first one ends: all go in the next request.
    later = [report() for _ in range(50)]
    for item in later:
        sender.send(item.job_id, item.token, item.report)
    sender.send(first.job_id, first.token, CallbackReport(status=DiracStatus.DONE, exit_code=0))
    await asyncio.sleep(0.05)
    assert len(fake.requests) == 1, "nothing may overtake the request that is out"
    fake.hold.set()
    await sender.close(drain_seconds=5)

    assert [len(batch.reports) for batch in fake.requests] == [1, 51]
    statuses = [r.report.status for r in fake.reports() if r.job_id == first.job_id]
    assert statuses == [DiracStatus.RUNNING, DiracStatus.DONE]


async def test_a_delayed_sender_holds_each_report_for_its_delay_and_keeps_each_jobs_order(gateway, http) -> None:
    fake, url = gateway
    sender = CallbackSender(HttpCallbackClient(http, url), delay_seconds=0.3)
    item = report()
    loop = asyncio.get_running_loop()
    sent_at = loop.time()
    sender.send(item.job_id, item.token, item.report)
    await asyncio.sleep(0.05)
    sender.send(item.job_id, item.token, CallbackReport(status=DiracStatus.DONE, exit_code=0))
    await asyncio.wait_for(fake.received.wait(), 5)
    assert loop.time() - sent_at >= 0.3
    await sender.close(drain_seconds=5)

    assert [r.report.status for r in fake.reports()] == [DiracStatus.RUNNING, DiracStatus.DONE]

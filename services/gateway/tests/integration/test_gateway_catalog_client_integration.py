"""The aiohttp catalog client against a small HTTP server on loopback that plays the catalog's internal API:
paths and query parameters sent, 404 as "not found", failures as CatalogUnavailableError."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from prometheus_client import CollectorRegistry, Histogram

from esap_gateway.adapters.catalog import CatalogUnavailableError, ForeignJobError, HttpCatalogClient
from esap_messages import Phase, new_id
from esap_messages.api import (
    CallbackVerdict,
    CallbackVerdicts,
    CallbackVerification,
    CallbackVerificationBatch,
    JobList,
    JobReadBatch,
    JobReadOutcome,
    JobReadOutcomes,
)
from esap_runtime.internal_http import InternalHttpClient


class CatalogDouble:
    """Records each request; answers from ``replies`` by path, else 404."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, list[tuple[str, str]], bytes]] = []
        self.replies: dict[str, web.Response] = {}
        self.handlers: dict[str, Callable[[web.Request], Awaitable[web.Response]]] = {}
        self.delay = 0.0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests.append((request.method, request.path, list(request.query.items()), await request.read()))
        if self.delay:
            await asyncio.sleep(self.delay)
        if request.path in self.handlers:
            return await self.handlers[request.path](request)
        return self.replies.get(request.path) or web.Response(status=404, text="not found")


@pytest.fixture
async def double() -> AsyncIterator[tuple[CatalogDouble, str]]:
    fake = CatalogDouble()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield fake, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@pytest.fixture
async def http() -> AsyncIterator[InternalHttpClient]:
    client = InternalHttpClient.open(max_connections=16)
    yield client
    await client.close()


def client_for(http: InternalHttpClient, url: str, timeout: float = 2.0) -> HttpCatalogClient:
    latency = Histogram("catalog_seconds", "test", ["route"], registry=CollectorRegistry())
    return HttpCatalogClient(http, url, timeout=timeout, latency=latency)


def json_reply(model) -> web.Response:
    return web.Response(body=model.model_dump_json(), content_type="application/json")


async def test_catalogue_reads_and_not_found(double, http, catalog) -> None:
    fake, url = double
    hello, local = catalog.workflows["hello-world"], catalog.facilities["local"]
    fake.replies["/internal/workflows/hello-world"] = json_reply(hello)
    fake.replies["/internal/facilities/local"] = json_reply(local)
    client = client_for(http, url)

    assert await client.get_workflow("hello-world") == hello
    assert await client.get_facility("local") == local
    assert await client.get_workflow("missing") is None


@pytest.mark.parametrize("slug", ["hello-world?owner=x", "hello-world#x", "../jobs", "a/b", "100%"])
async def test_a_slug_is_one_path_segment_whatever_it_holds(double, http, catalog, slug: str) -> None:
    fake, url = double
    fake.replies["/internal/workflows/hello-world"] = json_reply(catalog.workflows["hello-world"])
    client = client_for(http, url)

    assert await client.get_workflow(slug) is None
    assert await client.get_facility(slug) is None
    assert await client.planning_statistics(slug) is None

    assert [(path, query) for _, path, query, _ in fake.requests] == [
        (f"/internal/{kind}/{slug}", []) for kind in ("workflows", "facilities", "planning")]


async def test_reads_that_come_together_go_in_one_request_each_answered_for_its_reader(
    double, http, make_job
) -> None:
    fake, url = double
    jobs = {job.job_id: job for job in (make_job(owner="alice"), make_job(owner="bob"), make_job(owner=None))}

    async def read_batch(request: web.Request) -> web.Response:
        await asyncio.sleep(0.05)  # long enough for the reads that come meanwhile to queue behind this one
        reads = JobReadBatch.model_validate_json(await request.read()).items
        outcomes = []
        for read in reads:
            job = jobs.get(read.job_id)
            foreign = job is not None and job.owner != read.owner
            outcomes.append(JobReadOutcome(job=None if foreign else job, foreign=foreign))
        return json_reply(JobReadOutcomes(outcomes=outcomes))

    fake.handlers["/internal/jobs/read-batch"] = read_batch
    client = client_for(http, url)
    alice, bob, anonymous = jobs
    asked = [(alice, "alice"), (bob, "alice"), (anonymous, None), (new_id(), "alice"), (alice, None)] * 10

    answers = await asyncio.gather(*(client.get_job(job_id, owner=owner) for job_id, owner in asked),
                                   return_exceptions=True)

    expected = [jobs[alice], ForeignJobError, jobs[anonymous], None, ForeignJobError] * 10
    assert [type(a) if isinstance(a, Exception) else a for a in answers] == expected
    batches = [r for r in fake.requests if r[1] == "/internal/jobs/read-batch"]
    assert len(fake.requests) == len(batches) <= 3  # sent at once, then what queued meanwhile, together
    assert sum(len(JobReadBatch.model_validate_json(r[3]).items) for r in batches) == 50


async def test_job_reads_send_wait_and_phase_and_the_list_its_filters(double, http) -> None:
    fake, url = double
    job_id = new_id()
    fake.replies["/internal/jobs"] = json_reply(JobList(jobs=[]))
    client = client_for(http, url)

    await client.get_job(job_id, owner=None, wait=30, phase=Phase.QUEUED)
    await client.get_job(job_id, owner="alice", grace=True)
    listed = await client.list_jobs(owner=None, phases=[Phase.QUEUED, Phase.EXECUTING],
                                    after=datetime(2025, 1, 1, tzinfo=UTC), last=5)
    fake.replies["/internal/jobs"] = json_reply(JobList(jobs=[]))
    await client.list_jobs(owner="bob", phases=[Phase.PENDING], after=None, last=None, workflow="noop",
                           facility="local", run_id="r1", cursor="c")

    assert listed == JobList(jobs=[])
    assert fake.requests[0][:3] == ("GET", f"/internal/jobs/{job_id}",
                                    [("anonymous", "true"), ("wait", "30"), ("phase", "QUEUED")])
    assert fake.requests[1][:3] == ("GET", f"/internal/jobs/{job_id}", [("owner", "alice"), ("grace", "true")])
    assert fake.requests[2][:3] == ("GET", "/internal/jobs", [
        ("phase", "QUEUED"), ("phase", "EXECUTING"), ("anonymous", "true"), ("after", "2025-01-01T00:00:00+00:00"),
        ("last", "5")])
    assert fake.requests[3][:3] == ("GET", "/internal/jobs", [
        ("phase", "PENDING"), ("owner", "bob"), ("workflow", "noop"), ("facility", "local"), ("run_id", "r1"),
        ("cursor", "c")])


async def test_callback_verification_passes_the_catalogs_verdict_on(double, http) -> None:
    fake, url = double
    job_id = new_id()
    request = CallbackVerification(job_id=job_id, token="k" * 43, final=True)
    client = client_for(http, url)
    route = "/internal/callbacks/verify-batch"
    accepted = CallbackVerdict(job_id=job_id, accepted=True, phase=Phase.EXECUTING)
    fake.replies[route] = json_reply(CallbackVerdicts(verdicts=[accepted]))

    assert await client.verify_callback(request) == accepted
    assert CallbackVerificationBatch.model_validate_json(fake.requests[-1][3]).items == [request]
    late = CallbackVerdict(job_id=job_id, accepted=False, reason="the job is final", ended=True)
    fake.replies[route] = json_reply(CallbackVerdicts(verdicts=[late]))
    assert await client.verify_callback(request) == late
    fake.replies[route] = web.Response(status=500)
    with pytest.raises(CatalogUnavailableError):
        await client.verify_callback(request)


async def test_concurrent_verifications_travel_in_few_batches(double, http) -> None:
    fake, url = double
    requests = [CallbackVerification(job_id=new_id(), token="k" * 43) for _ in range(50)]

    async def verdicts(request: web.Request) -> web.Response:
        batch = CallbackVerificationBatch.model_validate_json(await request.read())
        body = CallbackVerdicts(verdicts=[CallbackVerdict(job_id=item.job_id, accepted=True, phase=Phase.QUEUED)
                                          for item in batch.items])
        return web.Response(body=body.model_dump_json(), content_type="application/json")

    fake.handlers["/internal/callbacks/verify-batch"] = verdicts
    client = client_for(http, url)

    answers = await asyncio.gather(*(client.verify_callback(r) for r in requests))

    assert [a.job_id for a in answers if a.accepted] == [r.job_id for r in requests]
    batches = [r for r in fake.requests if r[1] == "/internal/callbacks/verify-batch"]
    assert len(batches) <= 4, len(batches)


async def test_a_batch_of_verifications_goes_in_one_request_per_thousand_in_order(double, http) -> None:
    fake, url = double
    requests = [CallbackVerification(job_id=new_id(), token="k" * 43, final=i % 2 == 0) for i in range(1500)]

    async def verdicts(request: web.Request) -> web.Response:
        batch = CallbackVerificationBatch.model_validate_json(await request.read())
        body = CallbackVerdicts(verdicts=[CallbackVerdict(job_id=item.job_id, accepted=not item.final,
                                                          phase=Phase.QUEUED) for item in batch.items])
        return web.Response(body=body.model_dump_json(), content_type="application/json")

    fake.handlers["/internal/callbacks/verify-batch"] = verdicts
    client = client_for(http, url)

    answers = await client.verify_callbacks(requests)

    assert [(a.job_id, a.accepted) for a in answers] == [(r.job_id, not r.final) for r in requests]
    batches = [r for r in fake.requests if r[1] == "/internal/callbacks/verify-batch"]
    assert sorted(len(CallbackVerificationBatch.model_validate_json(b[3]).items) for b in batches) == [500, 1000]


async def test_a_verdict_missing_from_the_answer_is_an_unusable_answer(double, http) -> None:
    fake, url = double
    requests = [CallbackVerification(job_id=new_id(), token="k" * 43) for _ in range(2)]
    only_one = CallbackVerdict(job_id=requests[0].job_id, accepted=True, phase=Phase.QUEUED)
    fake.replies["/internal/callbacks/verify-batch"] = json_reply(CallbackVerdicts(verdicts=[only_one]))

    with pytest.raises(CatalogUnavailableError):
        await client_for(http, url).verify_callbacks(requests)


@pytest.mark.parametrize("reply", [web.Response(status=500), web.Response(status=503),
                                   web.Response(body=b"{not json", content_type="application/json")])
async def test_a_failing_catalog_is_unavailable(double, http, reply) -> None:
    fake, url = double
    fake.replies["/internal/workflows/noop"] = reply

    with pytest.raises(CatalogUnavailableError):
        await client_for(http, url).get_workflow("noop")


async def test_a_slow_or_absent_catalog_is_unavailable(double, http) -> None:
    fake, url = double
    fake.delay = 2.0

    with pytest.raises(CatalogUnavailableError):
        await client_for(http, url, timeout=0.2).get_facility("local")
    with pytest.raises(CatalogUnavailableError):
        await client_for(http, "http://127.0.0.1:9").get_facility("local")
    assert await client_for(http, "http://127.0.0.1:9").healthy() is False


async def test_a_verification_may_be_sent_again_only_while_it_consumes_no_token(double, http) -> None:
    fake, url = double
    marked: list[bool | None] = []
    send = http.request

    def recording(method: str, target: str, *, idempotent: bool | None = None, **kwargs):  # type: ignore[no-untyped-def]
        marked.append(idempotent)
        return send(method, target, idempotent=idempotent, **kwargs)

    http.request = recording
    running, final = (CallbackVerification(job_id=new_id(), token="k" * 43, final=f) for f in (False, True))
    fake.replies["/internal/callbacks/verify-batch"] = web.Response(status=500)

    for batch in ([running], [running, final]):
        with pytest.raises(CatalogUnavailableError):
            await client_for(http, url).verify_callbacks(batch)
    assert marked == [True, False]

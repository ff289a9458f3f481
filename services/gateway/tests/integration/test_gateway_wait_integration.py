"""WAIT woken by the gateway's own JobPhaseChanged subscription through a real RabbitMQ: the waiters park in the
gateway (no blocking catalog request) after one read each, and one phase change wakes exactly the job's waiters,
which read it once more.
The catalog is the in-memory fake."""

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from esap_gateway.config import Settings
from esap_gateway.main import create_app
from esap_messages import JobPhaseChanged, Phase, Topology, new_id, utcnow
from esap_runtime.bus import Bus, BusMetrics


@pytest.fixture
async def waiting_app(amqp_url: str, bus_namespace: str, catalog, work_root) -> AsyncIterator[FastAPI]:
    settings = Settings(amqp_url=SecretStr(amqp_url), bus_namespace=bus_namespace, local_work_root=work_root)
    app = create_app(settings, catalog=catalog)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def bus(amqp_url: str, bus_namespace: str) -> AsyncIterator[Bus]:
    connected = await Bus.connect(amqp_url, Topology(bus_namespace), BusMetrics("test", CollectorRegistry()))
    yield connected
    await connected.close()


def changed(job_id, phase: Phase) -> JobPhaseChanged:
    return JobPhaseChanged(job_id=job_id, owner=None, workflow="noop", facility="local", backend="local",
                           phase=phase, previous_phase=Phase.EXECUTING, changed_at=utcnow())


async def test_a_phase_change_on_the_bus_wakes_the_job_s_waiters(waiting_app, bus, catalog, make_job,
                                                                 uws_job) -> None:
    job = make_job(phase=Phase.EXECUTING)
    other = make_job(phase=Phase.EXECUTING)
    transport = httpx.ASGITransport(app=waiting_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw", timeout=30) as client:
        waits = [asyncio.create_task(client.get(f"/uws/jobs/{job.job_id}", params={"WAIT": "-1"}))
                 for _ in range(50)]
        other_wait = asyncio.create_task(client.get(f"/uws/jobs/{other.job_id}", params={"WAIT": "2"}))
        for _ in range(1000):  # until every request is parked
            if "gateway_open_waits 51.0" in (await client.get("/metrics")).text:
                break
            await asyncio.sleep(0.01)
        start = time.monotonic()
        catalog.jobs[job.job_id] = job.model_copy(update={"phase": Phase.COMPLETED})
        await bus.publish(changed(job.job_id, Phase.COMPLETED))
        answers = await asyncio.gather(*waits)
        assert time.monotonic() - start < 2
        assert {uws_job(a).phase for a in answers} == {"COMPLETED"}
        assert uws_job(await other_wait).phase == "EXECUTING"  # not woken: it ran out its own 2 s
    assert all(call["wait"] == 0 for call in catalog.calls_to("get_job"))
    reads = [c for c in catalog.calls_to("get_job") if c["job_id"] == job.job_id]
    assert len(reads) == 2 * 50  # one read before parking (its 404 or 403 too), one after the wake-up


async def test_a_wait_on_an_unknown_or_foreign_job_is_refused_at_once(waiting_app, catalog, make_job) -> None:
    foreign = make_job(owner="bob", phase=Phase.EXECUTING)
    transport = httpx.ASGITransport(app=waiting_app)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw", timeout=30) as client:
        unknown = await client.get(f"/uws/jobs/{new_id()}", params={"WAIT": "30"})
        malformed = await client.get("/uws/jobs/not-a-job", params={"WAIT": "30"})
        refused = await client.get(f"/uws/jobs/{foreign.job_id}", params={"WAIT": "30"})
        metrics = (await client.get("/metrics")).text
    assert (unknown.status_code, malformed.status_code, refused.status_code) == (404, 404, 403)
    assert "gateway_open_waits 0.0" in metrics

"""The monitor app in-process on the real RabbitMQ, with a fake catalog over HTTP and a fake backend injected
through create_app: one JobStatusObserved per change reaches the catalog's queue, and nothing else."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aio_pika
import httpx
from aio_pika.abc import AbstractQueue
from aiohttp import web
from aiohttp.test_utils import TestServer
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from esap_backends import BackendStatus
from esap_backends.testing import FakeBackend
from esap_messages import (
    DiracStatus,
    JobPhaseChanged,
    JobStatusObserved,
    JobSubmitted,
    Message,
    Phase,
    ResultFile,
    Topology,
    decode_all,
    new_id,
    utcnow,
)
from esap_messages.api import ActiveJob, ActiveJobList, FacilityList
from esap_monitor.config import Settings
from esap_monitor.main import create_app
from esap_monitor.testing import active_job, facility
from esap_runtime.bus import Bus, BusMetrics, declare_topology


@dataclass
class Harness:
    app: FastAPI
    http: httpx.AsyncClient
    backend: FakeBackend
    bus: Bus
    catalog_queue: AbstractQueue


def fake_catalog(listed: list[ActiveJob]) -> web.Application:
    async def active_jobs(_: web.Request) -> web.Response:
        return web.json_response(text=ActiveJobList(jobs=listed).model_dump_json())

    async def facilities(_: web.Request) -> web.Response:
        return web.json_response(text=FacilityList(facilities=[facility()]).model_dump_json())

    app = web.Application()
    app.router.add_get("/internal/active-jobs", active_jobs)
    app.router.add_get("/internal/facilities", facilities)
    return app


@asynccontextmanager
async def running_monitor(amqp_url: str, namespace: str, listed: list[ActiveJob]) -> AsyncIterator[Harness]:
    topology = Topology(namespace)
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    await declare_topology(channel, topology)
    catalog_queue = await channel.get_queue(topology.catalog.name)
    server = TestServer(fake_catalog(listed))
    await server.start_server()
    settings = Settings(amqp_url=amqp_url, bus_namespace=namespace, catalog_url=str(server.make_url("")),
                        poll_interval_seconds=0.05, resync_seconds=30.0)
    backend = FakeBackend()
    app = create_app(settings, backends={"local": backend})
    bus = await Bus.connect(amqp_url, topology, BusMetrics("tester", CollectorRegistry()))
    try:
        async with app.router.lifespan_context(app), httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://monitor"
        ) as http:
            yield Harness(app, http, backend, bus, catalog_queue)
    finally:
        await bus.close()
        await server.close()
        await connection.close()


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    async with asyncio.timeout(within):
        while True:
            if await check():
                return
            await asyncio.sleep(0.02)


async def wait_healthy(http: httpx.AsyncClient) -> None:
    async def healthy() -> bool:
        return (await http.get("/healthz")).status_code == 200

    await eventually(healthy)


async def observed(queue: AbstractQueue, *, within: float = 10.0) -> JobStatusObserved:
    """The next JobStatusObserved on the catalog's queue (other messages routed there are skipped)."""
    async with asyncio.timeout(within):
        while True:
            found = await drain_observations(queue)
            if found:
                assert len(found) == 1, found
                assert isinstance(found[0], JobStatusObserved)
                return found[0]
            await asyncio.sleep(0.01)


async def drain_observations(queue: AbstractQueue) -> list[Message]:
    found: list[Message] = []
    while (raw := await queue.get(no_ack=True, fail=False)) is not None:
        found.extend(m for m in decode_all(raw.type, raw.body, raw.headers) if isinstance(m, JobStatusObserved))
    return found


async def quiet_cycles(backend: FakeBackend, cycles: int = 5) -> None:
    """Let a few more poll cycles run: anything they would publish is on the queue afterwards."""
    async with asyncio.timeout(10):
        await backend.wait_for_calls(len(backend.calls) + cycles)


async def test_one_observation_per_change_of_a_submitted_job(amqp_url: str, bus_namespace: str) -> None:
    async with running_monitor(amqp_url, bus_namespace, listed=[]) as h:
        await wait_healthy(h.http)
        job_id, backend_job_id = new_id(), "local-1"
        h.backend.set(backend_job_id, BackendStatus(DiracStatus.RECEIVED))
        # A second job that stays Running keeps the cycles going once the first one is final.
        h.backend.set("local-sentinel", BackendStatus(DiracStatus.RUNNING))
        await h.bus.publish(JobSubmitted(job_id=new_id(), facility="local", backend_job_id="local-sentinel",
                                         status=DiracStatus.RUNNING))
        await h.bus.publish(JobSubmitted(job_id=job_id, facility="local", backend_job_id=backend_job_id))
        async with asyncio.timeout(10):
            while not any(backend_job_id in call for call in h.backend.calls):
                await h.backend.wait_for_calls(len(h.backend.calls) + 1)
        await quiet_cycles(h.backend)
        assert await drain_observations(h.catalog_queue) == []

        h.backend.set(backend_job_id, BackendStatus(DiracStatus.RUNNING, minor_status="Application started"))
        running = await observed(h.catalog_queue)
        assert (running.job_id, running.status, running.minor_status) == (
            job_id, DiracStatus.RUNNING, "Application started")
        await quiet_cycles(h.backend)
        assert await drain_observations(h.catalog_queue) == []

        result = ResultFile(name="out.json", size=2, mime_type="application/json", location="file:///j/out.json")
        h.backend.set(backend_job_id, BackendStatus(DiracStatus.DONE, exit_code=0, results=(result,)))
        done = await observed(h.catalog_queue)
        assert (done.job_id, done.status, done.exit_code, done.results) == (job_id, DiracStatus.DONE, 0, (result,))
        await quiet_cycles(h.backend)
        assert await drain_observations(h.catalog_queue) == []
        assert not any(backend_job_id in call for call in h.backend.calls[-3:])  # no polling after the final

        await h.bus.publish(JobPhaseChanged(
            job_id=job_id, owner=None, workflow="noop", facility="local", backend="local", phase=Phase.COMPLETED,
            previous_phase=Phase.EXECUTING, backend_job_id=backend_job_id, changed_at=utcnow()))

        async def dropped() -> bool:
            return "monitor_jobs_tracked 1.0" in (await h.http.get("/metrics")).text

        await eventually(dropped)
        metrics = (await h.http.get("/metrics")).text
        assert 'monitor_status_changes_total{status="Done"} 1.0' in metrics
        assert 'monitor_messages_published_total{type="JobStatusObserved"} 2.0' in metrics


async def test_jobs_listed_by_the_catalog_at_start_are_polled(amqp_url: str, bus_namespace: str) -> None:
    job_id = new_id()
    listed = [active_job(job_id, "local-7", dirac_status=DiracStatus.RUNNING)]
    async with running_monitor(amqp_url, bus_namespace, listed) as h:
        h.backend.set("local-7", BackendStatus(DiracStatus.FAILED, exit_code=2, error="exit code 2"))
        await wait_healthy(h.http)
        failed = await observed(h.catalog_queue)
        assert (failed.job_id, failed.status, failed.error) == (job_id, DiracStatus.FAILED, "exit code 2")
        health = (await h.http.get("/healthz")).json()
        assert health["checks"] == {"bus": True, "catalog_synced": True, "polling": True}

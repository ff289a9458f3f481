"""Fixtures for the submitter's integration tests: the app in-process on a bus namespace of its own, a fake
gateway recording callbacks, a publisher, and a reader of the catalog queue."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aio_pika
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer as HttpTestServer
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from esap_messages import Message, SubmitJob, Topology, WorkflowRun, decode_all, new_id
from esap_messages.api import CallbackBatch, CallbackReport, ReportOutcome, ReportOutcomes
from esap_runtime.bus import Bus, BusMetrics
from esap_submitter.config import Settings
from esap_submitter.main import create_app

ROOT = Path(__file__).resolve().parents[4]
TOKEN = "submitter-test-token-" + "z" * 20


class FakeGateway:
    """Records the reports the submitter POSTs to /uws/callbacks, and takes them all."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, CallbackReport]] = []

    async def callbacks(self, request: web.Request) -> web.Response:
        batch = CallbackBatch.model_validate_json(await request.read())
        self.calls.extend((str(r.job_id), f"Bearer {r.token}", r.report) for r in batch.reports)
        outcomes = ReportOutcomes(outcomes=[ReportOutcome(job_id=r.job_id, accepted=True) for r in batch.reports])
        return web.Response(status=200, body=outcomes.model_dump_json(), content_type="application/json")

    def statuses(self, job_id: object) -> list[str]:
        return [r.status.value for j, _, r in self.calls if j == str(job_id)]


class CatalogQueue:
    """Reads the events the submitter published, from the catalog's queue."""

    def __init__(self, queue: aio_pika.abc.AbstractQueue) -> None:
        self._queue = queue
        self.seen: list[Message] = []

    async def next(self, kind: type[Message], job_id: object, within: float = 30.0) -> Any:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while loop.time() < deadline:
            for message in self.seen:
                if isinstance(message, kind) and getattr(message, "job_id", None) == job_id:
                    self.seen.remove(message)
                    return message
            raw = await self._queue.get(no_ack=True, fail=False)
            if raw is None:
                await asyncio.sleep(0.02)
            else:
                self.seen.extend(decode_all(raw.type, raw.body, raw.headers))
        pytest.fail(f"no {kind.__name__} for {job_id} within {within} s")


@pytest.fixture
async def gateway() -> AsyncIterator[tuple[FakeGateway, str]]:
    fake = FakeGateway()
    app = web.Application()
    app.router.add_post("/uws/callbacks", fake.callbacks)
    server = HttpTestServer(app, host="127.0.0.1")
    await server.start_server()
    yield fake, str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
def settings(amqp_url: str, bus_namespace: str, gateway: tuple[FakeGateway, str], tmp_path: Path) -> Settings:
    return Settings(amqp_url=SecretStr(amqp_url), bus_namespace=bus_namespace, gateway_url=gateway[1],
                    local_work_root=tmp_path / "jobs", workflows_dir=ROOT / "workflows", kill_grace_seconds=1.0,
                    workers=8)


@pytest.fixture
def run_submitter(settings: Settings) -> Callable[[], Any]:
    """``async with run_submitter() as app``: the app with its lifespan running (consuming)."""

    @asynccontextmanager
    async def running() -> AsyncIterator[FastAPI]:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            yield app

    return running


@pytest.fixture
async def bus(amqp_url: str, bus_namespace: str) -> AsyncIterator[Bus]:
    connected = await Bus.connect(amqp_url, Topology(bus_namespace), BusMetrics("test", CollectorRegistry()))
    yield connected
    await connected.close()


@pytest.fixture
async def catalog_queue(amqp_url: str, bus_namespace: str, bus: Bus) -> AsyncIterator[CatalogQueue]:
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    yield CatalogQueue(await channel.get_queue(Topology(bus_namespace).catalog.name))
    await connection.close()


def submit_job(slug: str, parameters: dict[str, str], execution_duration: int = 0,
               backend: str = "local") -> SubmitJob:
    run = WorkflowRun.model_validate(json.loads((ROOT / "workflows" / f"{slug}.json").read_text())["run"])
    return SubmitJob(job_id=new_id(), facility="local", backend=backend, workflow=run, parameters=parameters,
                     execution_duration=execution_duration, callback_token=SecretStr(TOKEN))


@pytest.fixture
def jobs() -> type:
    class Jobs:
        token = TOKEN
        submit = staticmethod(submit_job)

    return Jobs

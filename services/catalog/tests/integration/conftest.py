"""Fixtures for the catalog against real PostgreSQL and RabbitMQ: a migrated and seeded database of its own, a
bus namespace of its own, the app in process (lifespan entered, httpx over ASGI), and a test-side bus."""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aio_pika
import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from esap_catalog.config import Settings
from esap_catalog.factory import Factory
from esap_catalog.main import create_app
from esap_catalog.services.seeding import seed
from esap_catalog.storage.catalogue import CatalogueStore
from esap_catalog.storage.migrator import migrate
from esap_catalog.storage.pool import create_pool
from esap_messages import JobPhaseChanged, Message, Topology, decode_all
from esap_runtime.bus import Bus, BusMetrics

REPO = Path(__file__).resolve().parents[4]

GRACE = {"grace": "true"}
"""A read right after publishing a creation asks for the catalog's creation grace, as the gateway does."""


async def eventually(check: Callable[[], Awaitable[Any]], within: float = 10.0) -> Any:
    """The first truthy result of ``check``, polled for up to ``within`` seconds; fails the test otherwise."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {within} s")
        await asyncio.sleep(0.02)


@pytest.fixture
async def database_url(fresh_database_url: str) -> str:
    """A fresh database, migrated and seeded with the repository's workflows and facilities."""
    await migrate(fresh_database_url)
    pool = await create_pool(fresh_database_url, min_size=1, max_size=1)
    try:
        await seed(CatalogueStore(pool), REPO / "workflows", REPO / "facilities")
    finally:
        await pool.close()
    return fresh_database_url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=4)
    yield pool
    await pool.close()


@pytest.fixture
def settings(database_url: str, amqp_url: str, bus_namespace: str) -> Settings:
    return Settings(database_url=SecretStr(database_url), amqp_url=SecretStr(amqp_url),
                    bus_namespace=bus_namespace, batch_linger_ms=1.0, max_wait_seconds=5.0,
                    creation_grace_seconds=5.0)


@dataclass
class Catalog:
    app: FastAPI
    http: httpx.AsyncClient

    @property
    def factory(self) -> Factory:
        factory: Factory = self.app.state.factory
        return factory

    def sample(self, name: str, **labels: str) -> float:
        return self.factory.metrics.registry.get_sample_value(name, labels) or 0.0


StartCatalog = Callable[..., AbstractAsyncContextManager[Catalog]]


@pytest.fixture
def start_catalog(settings: Settings) -> StartCatalog:
    """Runs the app in process (its lifespan entered) with the test's settings, or some overridden."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Catalog]:
        app = create_app(settings.model_copy(update=overrides))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://catalog", timeout=30) as http:
                yield Catalog(app, http)

    return start


@pytest.fixture
async def catalog(start_catalog: StartCatalog) -> AsyncIterator[Catalog]:
    async with start_catalog() as running:
        yield running


@pytest.fixture
async def bus(amqp_url: str, bus_namespace: str) -> AsyncIterator[Bus]:
    """The test's own connection: publishes as the gateway, submitter or monitor would."""
    test_bus = await Bus.connect(amqp_url, Topology(bus_namespace), BusMetrics("test", CollectorRegistry()))
    yield test_bus
    await test_bus.close()


class Collector:
    """Everything arriving on one queue, decoded, in order."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def on_message(self, raw: aio_pika.abc.AbstractIncomingMessage) -> None:
        async with raw.process():
            self.messages.extend(decode_all(raw.type, raw.body, raw.headers))

    def of(self, kind: type[Message]) -> list[Any]:
        return [m for m in self.messages if isinstance(m, kind)]

    async def wait_for(self, kind: type[Message], count: int = 1, within: float = 10.0) -> list[Any]:
        async def enough() -> bool:
            return len(self.of(kind)) >= count

        await eventually(enough, within)
        return self.of(kind)


@pytest.fixture
async def queues(amqp_url: str, bus_namespace: str, bus: Bus) -> AsyncIterator[dict[str, Collector]]:
    """Collectors on the submitter queue and on every phase change (the catalog's outbox goes there); the
    monitor's queue takes only the final phases, so the phase changes get a queue of the test's own."""
    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    topology = Topology(bus_namespace)
    collectors = {"submitter": Collector(), "phases": Collector()}
    await (await channel.get_queue(topology.submitter.name)).consume(collectors["submitter"].on_message)
    phases = await channel.declare_queue(exclusive=True, auto_delete=True)
    await phases.bind(topology.exchange, routing_key=f"{JobPhaseChanged.routing_key}.*")
    await phases.consume(collectors["phases"].on_message)
    yield collectors
    await connection.close()

"""The bus across broker faults, on a RabbitMQ node of this module's own: consumers come back after a broker
restart, a broker crash, connections closed by the broker and a channel closed by the broker, and say so
(``ready``, the live-consumer gauge, the reconnection counter) meanwhile."""

import asyncio
from collections.abc import AsyncIterator
from uuid import UUID, uuid4

import aio_pika
import pytest
from prometheus_client import CollectorRegistry

from esap_messages import RunJob, Topology
from esap_runtime.bus import Bus, BusMetrics, Delivery
from esap_runtime.private_servers import PrivateRabbitMQ

RECOVERY_SECONDS = 30.0


class Received:
    def __init__(self) -> None:
        self.job_ids: list[UUID] = []

    async def handle(self, deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            assert isinstance(delivery.message, RunJob)
            self.job_ids.append(delivery.message.job_id)


@pytest.fixture
async def consuming(private_rabbitmq: PrivateRabbitMQ) -> AsyncIterator[tuple[Bus, Received, CollectorRegistry]]:
    registry = CollectorRegistry()
    topology = Topology(f"f{uuid4().hex[:8]}")
    bus = await Bus.connect(private_rabbitmq.url, topology, BusMetrics("test", registry))
    received = Received()
    await bus.consume(topology.catalog, received.handle)
    yield bus, received, registry
    await bus.close()


async def eventually(condition, within: float = RECOVERY_SECONDS) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "not within the time allowed"
        await asyncio.sleep(0.1)


async def publish_until_confirmed(bus: Bus, message: RunJob, within: float = RECOVERY_SECONDS) -> None:
    """Publish once the bus is back (a publish while it reconnects fails or waits)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            await asyncio.wait_for(bus.publish(message), 5)
            return
        except Exception:
            assert asyncio.get_running_loop().time() < deadline, "the bus never took the message"
            await asyncio.sleep(0.2)


def gauge(registry: CollectorRegistry, name: str, labels: dict[str, str] | None = None) -> float:
    value = registry.get_sample_value(name, labels or {})
    assert value is not None, name
    return value


async def consumed_after(bus: Bus, received: Received) -> None:
    """A message published now reaches the handler."""
    message = RunJob(job_id=uuid4())
    await publish_until_confirmed(bus, message)
    await eventually(lambda: message.job_id in received.job_ids)


async def test_a_consumer_comes_back_after_the_broker_restarts(
    consuming: tuple[Bus, Received, CollectorRegistry], private_rabbitmq: PrivateRabbitMQ
) -> None:
    bus, received, registry = consuming
    queue = bus.topology.catalog.name
    await consumed_after(bus, received)
    assert bus.ready and gauge(registry, "test_bus_consumers", {"queue": queue}) == 1.0

    await asyncio.to_thread(private_rabbitmq.stop)
    await eventually(lambda: not bus.ready, within=10)
    assert gauge(registry, "test_bus_consumers", {"queue": queue}) == 0.0
    assert gauge(registry, "test_bus_connected") == 0.0
    await asyncio.to_thread(private_rabbitmq.start)

    await eventually(lambda: bus.ready)
    await consumed_after(bus, received)
    assert gauge(registry, "test_bus_consumers", {"queue": queue}) == 1.0
    # Counted once every channel is restored: a consumer's channel may deliver before the last one is back.
    await eventually(lambda: gauge(registry, "test_bus_reconnections_total") >= 1.0)


async def test_a_consumer_comes_back_after_the_broker_crashes(
    consuming: tuple[Bus, Received, CollectorRegistry], private_rabbitmq: PrivateRabbitMQ
) -> None:
    bus, received, _ = consuming
    await consumed_after(bus, received)

    await asyncio.to_thread(private_rabbitmq.crash)
    await asyncio.to_thread(private_rabbitmq.start)

    await eventually(lambda: bus.ready)
    await consumed_after(bus, received)


async def test_a_consumer_comes_back_after_the_broker_closes_its_connections(
    consuming: tuple[Bus, Received, CollectorRegistry], private_rabbitmq: PrivateRabbitMQ
) -> None:
    bus, received, registry = consuming
    await consumed_after(bus, received)
    before = gauge(registry, "test_bus_reconnections_total")

    await asyncio.to_thread(private_rabbitmq.close_connections)

    await eventually(lambda: gauge(registry, "test_bus_reconnections_total") > before)
    await eventually(lambda: bus.ready)
    await consumed_after(bus, received)


async def test_a_consumer_comes_back_after_the_broker_closes_its_channel(
    consuming: tuple[Bus, Received, CollectorRegistry], private_rabbitmq: PrivateRabbitMQ
) -> None:
    bus, received, _ = consuming
    first = RunJob(job_id=uuid4())
    seen: list[aio_pika.abc.AbstractIncomingMessage] = []
    original = received.handle

    async def keep_raw(deliveries: list[Delivery]) -> None:
        seen.extend(d.raw for d in deliveries)
        await original(deliveries)

    received.handle = keep_raw  # type: ignore[method-assign]
    bus._consumers[0]._handler = keep_raw  # the consumer calls the handler it was given
    await publish_until_confirmed(bus, first)
    await eventually(lambda: first.job_id in received.job_ids)

    # Acknowledging a delivery tag the channel never gave is a channel error: the broker closes the channel.
    await seen[-1].channel.basic_ack(delivery_tag=10_000_000)

    await eventually(lambda: bus.ready)
    await consumed_after(bus, received)

"""A consumer whose connection is lost while deliveries wait in its hands goes on consuming once it is back.

On a RabbitMQ node of this module's own: the handler holds one delivery while the next waits in the consumer's
queue, the broker closes the connection, then the held delivery is released. Seen in the fault suite: after a
RabbitMQ restart under load the catalog's consumer was live on the broker (``ready``, one live consumer) and handled
nothing more, and 188 accepted jobs never reached its database.
"""

import asyncio
from uuid import UUID, uuid4

from prometheus_client import CollectorRegistry

from esap_messages import RunJob, Topology
from esap_runtime.bus import Bus, BusMetrics, Delivery
from esap_runtime.private_servers import PrivateRabbitMQ

RECOVERY_SECONDS = 30.0


async def eventually(condition, within: float = RECOVERY_SECONDS) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "not within the time allowed"
        await asyncio.sleep(0.1)


async def publish_until_confirmed(bus: Bus, message: RunJob) -> None:
    deadline = asyncio.get_running_loop().time() + RECOVERY_SECONDS
    while True:
        try:
            await asyncio.wait_for(bus.publish(message), 5)
            return
        except Exception:
            assert asyncio.get_running_loop().time() < deadline, "the bus never took the message"
            await asyncio.sleep(0.2)


async def test_deliveries_of_a_lost_connection_do_not_stop_the_consumer(private_rabbitmq: PrivateRabbitMQ) -> None:
    topology = Topology(f"f{uuid4().hex[:8]}")
    bus = await Bus.connect(private_rabbitmq.url, topology, BusMetrics("test", CollectorRegistry()))
    handled: list[UUID] = []
    release = asyncio.Event()

    async def handle(deliveries: list[Delivery]) -> None:
        for delivery in deliveries:
            assert isinstance(delivery.message, RunJob)
            handled.append(delivery.message.job_id)
        await release.wait()  # the first batch is held; what comes next waits in the consumer

    try:
        await bus.consume(bus.topology.catalog, handle)
        first, second = RunJob(job_id=uuid4()), RunJob(job_id=uuid4())
        await bus.publish(first)
        await bus.publish(second)  # a message of its own, prefetched behind the held one
        await eventually(lambda: handled == [first.job_id])
        await asyncio.sleep(0.3)

        await asyncio.to_thread(private_rabbitmq.close_connections)
        await eventually(lambda: not bus.is_connected, within=10)
        release.set()

        await eventually(lambda: bus.ready)
        third = RunJob(job_id=uuid4())
        await publish_until_confirmed(bus, third)
        await eventually(lambda: {second.job_id, third.job_id} <= set(handled))
    finally:
        release.set()
        await bus.close()

"""The bus against a real RabbitMQ: confirmed publishing, batched consuming, retry, dead-lettering, holding."""

import asyncio
from collections.abc import AsyncIterator, Sequence
from uuid import uuid4

import aio_pika
import aiormq
import pytest
from prometheus_client import CollectorRegistry

from esap_messages import (
    BATCH_HEADER,
    AbortJob,
    Encoded,
    JobPhaseChanged,
    Message,
    Phase,
    RunJob,
    Topology,
    decode,
    decode_all,
    encode,
    join_bodies,
    utcnow,
)
from esap_messages.registry import UnknownMessageTypeError, routing_key_of
from esap_messages.topology import ATTEMPT_HEADER
from esap_runtime.bus import MAX_BATCH, Bus, BusMetrics, Delivery, DependencyUnavailableError, RetryLaterError


@pytest.fixture
async def bus(amqp_url: str, bus_namespace: str) -> AsyncIterator[Bus]:
    connected = await Bus.connect(amqp_url, Topology(bus_namespace), BusMetrics("test", CollectorRegistry()))
    yield connected
    await connected.close()


def phase_changed(phase: Phase) -> JobPhaseChanged:
    return JobPhaseChanged(job_id=uuid4(), owner=None, workflow="noop", facility="local", backend="local",
                           phase=phase, previous_phase=None, changed_at=utcnow())


async def wait_until(condition, within: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.02)


async def queue_depth(amqp_url: str, name: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    try:
        queue = await (await connection.channel()).declare_queue(name, passive=True)
        return queue.declaration_result.message_count or 0
    finally:
        await connection.close()


async def test_published_messages_reach_the_bound_queue_persistent(bus: Bus, amqp_url: str) -> None:
    message = RunJob(job_id=uuid4())
    await bus.publish(message)

    connection = await aio_pika.connect(amqp_url)
    channel = await connection.channel()
    raw = await (await channel.get_queue(bus.topology.catalog.name)).get(timeout=5)
    assert raw.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert raw.message_id == str(message.message_id)
    assert decode(raw.type, raw.body) == message
    await raw.ack()
    await connection.close()


async def test_consumer_acks_after_the_handler_in_batches(bus: Bus, amqp_url: str) -> None:
    seen: list[list[Delivery]] = []

    async def handler(batch: Sequence[Delivery]) -> None:
        seen.append(list(batch))

    await bus.publish_many([RunJob(job_id=uuid4()) for _ in range(50)])
    await bus.consume(bus.topology.catalog, handler, batch_size=64, linger=0.01)

    await wait_until(lambda: sum(len(b) for b in seen) == 50)
    assert len(seen) < 50, "messages were not batched"
    await wait_until(lambda: bus.metrics.consumed.labels("RunJob")._value.get() == 50)
    assert await queue_depth(amqp_url, bus.topology.catalog.name) == 0


async def test_a_lone_message_at_a_quiet_time_does_not_wait_for_the_linger(bus: Bus) -> None:
    seen: list[list[Delivery]] = []

    async def handler(batch: Sequence[Delivery]) -> None:
        seen.append(list(batch))

    # A 60 s linger would outlast wait_until's limit, were it applied to a message that came alone.
    await bus.consume(bus.topology.catalog, handler, batch_size=64, linger=60.0)
    await bus.publish(RunJob(job_id=uuid4()))
    await wait_until(lambda: len(seen) == 1)
    await bus.publish(RunJob(job_id=uuid4()))
    await wait_until(lambda: len(seen) == 2)
    assert [len(batch) for batch in seen] == [1, 1]


async def test_the_linger_bounds_a_batch_in_all_not_per_message(bus: Bus) -> None:
    seen: list[list[Delivery]] = []

    async def handler(batch: Sequence[Delivery]) -> None:
        seen.append(list(batch))

    await bus.consume(bus.topology.catalog, handler, batch_size=1000, linger=0.1, linger_above=10)
    await bus.publish_many([RunJob(job_id=uuid4()) for _ in range(2)])
    await wait_until(lambda: sum(len(b) for b in seen) == 2)
    # A trickle at 50/s for ~0.4 s (above linger_above, so the consumer lingers), with gaps far shorter than the
    # linger: were the linger per message, one batch took it all.
    for _ in range(20):
        await bus.publish(RunJob(job_id=uuid4()))
        await asyncio.sleep(0.02)
    await wait_until(lambda: sum(len(b) for b in seen) == 22)
    assert len(seen) >= 3, [len(b) for b in seen]


async def test_a_poison_message_is_dead_lettered_and_the_rest_of_its_batch_handled(bus: Bus, amqp_url: str) -> None:
    poison = RunJob(job_id=uuid4())
    handled: list[RunJob] = []

    async def handler(batch: Sequence[Delivery]) -> None:
        if any(d.message == poison for d in batch):
            raise ValueError("cannot handle this one")
        handled.extend(d.message for d in batch)  # type: ignore[misc]

    good = [RunJob(job_id=uuid4()) for _ in range(5)]
    await bus.publish_many([*good[:2], poison, *good[2:]])
    await bus.consume(bus.topology.catalog, handler, batch_size=10, linger=0.05)

    await wait_until(lambda: len(handled) == 5)
    await wait_until(lambda: bus.metrics.dead_lettered.labels("RunJob")._value.get() == 1)
    assert await queue_depth(amqp_url, bus.topology.catalog.dead) == 1


async def test_retry_later_comes_back_with_the_attempt_counted(bus: Bus) -> None:
    attempts: list[int] = []

    async def handler(batch: Sequence[Delivery]) -> None:
        attempts.extend(d.attempt for d in batch)
        if len(attempts) < 3:
            raise RetryLaterError("backend busy")

    await bus.publish(AbortJob(job_id=uuid4()))
    await bus.consume(bus.topology.catalog, handler)

    await wait_until(lambda: len(attempts) == 3, within=15)
    assert attempts == [1, 2, 3]
    assert ATTEMPT_HEADER.startswith("x-")


async def test_an_unavailable_dependency_holds_messages_until_it_returns(bus: Bus, amqp_url: str) -> None:
    calls = 0
    done = asyncio.Event()

    async def handler(batch: Sequence[Delivery]) -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise DependencyUnavailableError("database down")
        done.set()

    await bus.publish(RunJob(job_id=uuid4()))
    await bus.consume(bus.topology.catalog, handler)

    await asyncio.wait_for(done.wait(), 10)
    assert calls == 3
    assert bus.metrics.retried.labels("RunJob")._value.get() == 0
    assert bus.metrics.dead_lettered.labels("RunJob")._value.get() == 0


@pytest.mark.parametrize("failure", [
    aiormq.exceptions.ChannelInvalidStateError("channel being restored"),  # a publish during a reconnection
    aiormq.exceptions.ConnectionClosed(320, "CONNECTION_FORCED"),
    aiormq.exceptions.DeliveryError(None, aiormq.spec.Basic.Nack(delivery_tag=1)),  # not confirmed
    ConnectionResetError("reset by peer"),
    TimeoutError(),
], ids=lambda exc: type(exc).__name__)
async def test_a_handler_that_cannot_reach_what_it_needs_holds_its_message_instead_of_dead_lettering_it(
    bus: Bus, amqp_url: str, failure: Exception
) -> None:
    calls = 0
    done = asyncio.Event()

    async def handler(batch: Sequence[Delivery]) -> None:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise failure
        done.set()

    await bus.publish(RunJob(job_id=uuid4()))
    await bus.consume(bus.topology.catalog, handler)

    await asyncio.wait_for(done.wait(), 10)
    assert calls == 3
    assert bus.metrics.dead_lettered.labels("RunJob")._value.get() == 0
    assert bus.metrics.held._value.get() == 1
    assert await queue_depth(amqp_url, bus.topology.catalog.dead) == 0


async def test_undecodable_messages_are_dead_lettered(bus: Bus, amqp_url: str) -> None:
    async def handler(batch: Sequence[Delivery]) -> None:
        raise AssertionError("must not be called")

    connection = await aio_pika.connect(amqp_url)
    exchange = await (await connection.channel()).get_exchange(bus.topology.exchange)
    await exchange.publish(aio_pika.Message(b"{not json", type="RunJob"), routing_key="catalog.run_job")
    await connection.close()
    await bus.consume(bus.topology.catalog, handler)

    await wait_until(lambda: bus.metrics.dead_lettered.labels("RunJob")._value.get() == 1)


async def test_unroutable_messages_raise_instead_of_vanishing(amqp_url: str, bus_namespace: str) -> None:
    bus = await Bus.connect(amqp_url, Topology(bus_namespace), BusMetrics("t2", CollectorRegistry()))
    try:
        connection = await aio_pika.connect(amqp_url)
        channel = await connection.channel()
        queue = await channel.get_queue(bus.topology.catalog.name)
        await queue.unbind(bus.topology.exchange, routing_key="catalog.run_job")
        await connection.close()
        with pytest.raises(aio_pika.exceptions.DeliveryError):
            await bus.publish(RunJob(job_id=uuid4()))
    finally:
        await bus.close()


async def test_hints_travel_transient_and_state_changes_persistent(bus: Bus, amqp_url: str) -> None:
    from esap_messages import DiracStatus, JobReported, utcnow

    hint = JobReported(job_id=uuid4(), status=DiracStatus.RUNNING, reported_at=utcnow())
    await bus.publish_many([RunJob(job_id=uuid4()), hint])

    connection = await aio_pika.connect(amqp_url)
    queue = await (await connection.channel()).get_queue(bus.topology.catalog.name)
    modes = {}
    for _ in range(2):
        raw = await queue.get(timeout=5, no_ack=True)
        modes[raw.type] = raw.delivery_mode
    await connection.close()
    assert modes == {"RunJob": aio_pika.DeliveryMode.PERSISTENT, "JobReported": aio_pika.DeliveryMode.NOT_PERSISTENT}


async def test_messages_published_together_travel_in_one_amqp_message(bus: Bus, amqp_url: str) -> None:
    runs = [RunJob(job_id=uuid4()) for _ in range(40)]
    aborts = [AbortJob(job_id=uuid4()) for _ in range(3)]
    await bus.publish_many([*runs, *aborts])

    assert await queue_depth(amqp_url, bus.topology.catalog.name) == 2, "one AMQP message per type"
    connection = await aio_pika.connect(amqp_url)
    queue = await (await connection.channel()).get_queue(bus.topology.catalog.name)
    bodies = {}
    for _ in range(2):
        raw = await queue.get(timeout=5, no_ack=True)
        assert raw.headers[BATCH_HEADER] in (40, 3)
        bodies[raw.type] = decode_all(raw.type, raw.body, raw.headers)
    await connection.close()
    assert bodies == {"RunJob": runs, "AbortJob": aborts}
    assert bus.metrics.published.labels("RunJob")._value.get() == 40


async def test_a_lone_message_goes_out_alone_in_the_plain_encoding(bus: Bus, amqp_url: str) -> None:
    message = RunJob(job_id=uuid4())
    await bus.publish(message)
    connection = await aio_pika.connect(amqp_url)
    raw = await (await (await connection.channel()).get_queue(bus.topology.catalog.name)).get(timeout=5, no_ack=True)
    await connection.close()
    assert BATCH_HEADER not in (raw.headers or {})
    assert decode(raw.type, raw.body) == message


async def test_a_batched_message_is_acked_only_when_all_it_carried_is_handled(bus: Bus, amqp_url: str) -> None:
    handled: list[Delivery] = []

    async def handler(batch: Sequence[Delivery]) -> None:
        if len(handled) >= 2:
            await asyncio.Event().wait()  # the third message never finishes
        handled.extend(batch)

    await bus.publish_many([RunJob(job_id=uuid4()) for _ in range(5)])
    await bus.consume(bus.topology.catalog, handler, batch_size=1, workers=1)
    await wait_until(lambda: len(handled) == 2)
    await asyncio.sleep(0.1)
    assert bus.metrics.consumed.labels("RunJob")._value.get() == 2
    await bus.close()

    deadline = asyncio.get_running_loop().time() + 5
    while await queue_depth(amqp_url, bus.topology.catalog.name) != 1:
        assert asyncio.get_running_loop().time() < deadline, "the half-handled AMQP message was acked"
        await asyncio.sleep(0.05)


async def test_bindings_an_earlier_version_made_are_removed_when_the_topology_is_declared(
        amqp_url: str, bus_namespace: str) -> None:
    topology = Topology(bus_namespace)
    spec = topology.monitor
    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        exchange = await channel.declare_exchange(topology.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(spec.name, durable=True, arguments=spec.arguments())
        for key in spec.retired:
            await queue.bind(exchange, routing_key=key)  # as the earlier version left the broker

        bus = await Bus.connect(amqp_url, topology, BusMetrics("t3", CollectorRegistry()))
        try:
            executing, completed = (phase_changed(phase) for phase in (Phase.EXECUTING, Phase.COMPLETED))
            await bus.publish_many([executing, completed])  # EXECUTING: routed nowhere, and not refused
        finally:
            await bus.close()
        raw = await queue.get(timeout=5)
        assert [m.phase for m in decode_all(raw.type, raw.body, raw.headers)] == [Phase.COMPLETED]
        await raw.ack()
        assert await queue.get(fail=False) is None
    finally:
        await connection.close()


async def test_a_notification_no_queue_is_bound_to_is_confirmed_and_dropped(bus: Bus) -> None:
    # A command routed nowhere raises (test_unroutable_messages_raise_instead_of_vanishing); a notification
    # nobody subscribed to is not an error: no queue of this namespace binds job.phase_changed.EXECUTING.
    await bus.publish(phase_changed(Phase.EXECUTING))
    assert bus.metrics.published.labels("JobPhaseChanged")._value.get() == 1


def encoded(message: Message, routing_key: str | None = None) -> Encoded:
    return Encoded(message.type_name(), routing_key or routing_key_of(message), encode(message),
                   message.schema_version, message.occurred_at)


async def test_encoded_messages_go_out_as_written_at_most_max_batch_to_an_amqp_message(bus: Bus,
                                                                                       amqp_url: str) -> None:
    commands = [RunJob(job_id=uuid4()) for _ in range(MAX_BATCH + 10)]
    await bus.publish_encoded([encoded(c) for c in commands])

    connection = await aio_pika.connect(amqp_url)
    queue = await (await connection.channel()).get_queue(bus.topology.catalog.name)
    bodies, sizes, modes = [], [], set()
    for _ in range(2):
        raw = await queue.get(timeout=5, no_ack=True)
        sizes.append(raw.headers[BATCH_HEADER])
        modes.add(raw.delivery_mode)
        bodies.append(raw.body)
    assert await queue.get(fail=False) is None
    await connection.close()
    assert sorted(sizes) == [10, MAX_BATCH] and modes == {aio_pika.DeliveryMode.PERSISTENT}
    assert b"".join(sorted(bodies, key=len, reverse=True)) == (
        join_bodies([encode(c) for c in commands[:MAX_BATCH]]) + join_bodies([encode(c) for c in commands[MAX_BATCH:]]))
    assert bus.metrics.published.labels("RunJob")._value.get() == MAX_BATCH + 10


async def test_an_encoded_command_routed_nowhere_raises_and_an_unknown_type_sends_nothing(bus: Bus) -> None:
    with pytest.raises(aio_pika.exceptions.DeliveryError):
        await bus.publish_encoded([encoded(RunJob(job_id=uuid4()), routing_key="nowhere.run_job")])

    known = encoded(RunJob(job_id=uuid4()))
    stranger = Encoded("JobTeleported", "job.teleported", b"{}", 1, utcnow())
    with pytest.raises(UnknownMessageTypeError):
        await bus.publish_encoded([known, stranger])
    assert bus.metrics.published.labels("RunJob")._value.get() == 0


async def test_a_consumer_whose_worker_ended_is_not_live(bus: Bus) -> None:
    async def handler(batch: Sequence[Delivery]) -> None:
        pass

    await bus.consume(bus.topology.catalog, handler)
    assert bus.ready
    bus._consumers[0]._tasks[0].cancel()  # as if it had ended with an error
    await asyncio.sleep(0)

    assert not bus.ready
    [family] = bus.metrics.consumers.collect()
    assert [(sample.labels["queue"], sample.value) for sample in family.samples] == [(bus.topology.catalog.name, 0.0)]

"""The message bus on RabbitMQ: declare the topology, publish with confirms, consume in batches.

Reliability rules kept here so that no service has to remember them:
- every service declares the whole topology, so nothing is published to a queue that does not exist yet;
- messages are persistent and mandatory, and ``publish`` returns only once the broker confirmed them;
- a consumed message is acked only after its handler returned, i.e. after its effect is durable;
- a failing batch is split so one bad message cannot block the others; a message that fails on its own is
  dead-lettered; ``RetryLaterError`` sends it through the retry queue with backoff, up to MAX_ATTEMPTS;
- ``DependencyUnavailableError`` (the database is down...) holds the batch, unacked, and tries again with backoff,
  so an outage costs time, never messages.

Knows the message contracts, never their meaning.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import aio_pika
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)
from prometheus_client import CollectorRegistry, Counter, Histogram

from esap_messages import Message, Topology, decode, encode
from esap_messages.registry import routing_key_of
from esap_messages.topology import ATTEMPT_HEADER, MAX_ATTEMPTS, QueueSpec

log = structlog.get_logger("esap.bus")


class RetryLaterError(Exception):
    """The message could not be handled now but may be later: redeliver it after a backoff."""


class DependencyUnavailableError(Exception):
    """Something the handler needs is down: hold the messages and try again, without spending attempts."""


@dataclass(frozen=True)
class Delivery:
    """A decoded message with what the consumer needs to settle it."""

    message: Message
    attempt: int
    raw: AbstractIncomingMessage


Handler = Callable[[Sequence[Delivery]], Awaitable[None]]


class BusMetrics:
    """Bus metrics in the service's registry, named ``<service>_messages_...``."""

    def __init__(self, service: str, registry: CollectorRegistry) -> None:
        self.published = Counter(
            f"{service}_messages_published_total", "Messages published and confirmed by the broker.",
            ["type"], registry=registry,
        )
        self.consumed = Counter(
            f"{service}_messages_consumed_total", "Messages handled and acked.", ["type"], registry=registry,
        )
        self.redelivered = Counter(
            f"{service}_messages_redelivered_total", "Messages the broker delivered again.", ["type"],
            registry=registry,
        )
        self.retried = Counter(
            f"{service}_messages_retried_total", "Messages sent through the retry queue.", ["type"],
            registry=registry,
        )
        self.dead_lettered = Counter(
            f"{service}_messages_dead_lettered_total", "Messages rejected to the dead-letter queue.", ["type"],
            registry=registry,
        )
        self.batch_seconds = Histogram(
            f"{service}_message_batch_duration_seconds", "Time to handle one batch of messages.",
            registry=registry, buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
        )


class Bus:
    """One connection, one publishing channel with confirms, one channel per consumer."""

    def __init__(self, connection: AbstractRobustConnection, channel: AbstractChannel,
                 exchange: AbstractExchange, topology: Topology, metrics: BusMetrics) -> None:
        self._connection = connection
        self._channel = channel
        self._exchange = exchange
        self.topology = topology
        self.metrics = metrics
        self._consumers: list[_BatchConsumer] = []

    @classmethod
    async def connect(cls, url: str, topology: Topology, metrics: BusMetrics) -> "Bus":
        connection = await aio_pika.connect_robust(url, client_properties={"connection_name": topology.namespace})
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await declare_topology(channel, topology)
        return cls(connection, channel, exchange, topology, metrics)

    @property
    def is_connected(self) -> bool:
        return not self._connection.is_closed and not self._channel.is_closed

    async def publish(self, message: Message, *, headers: dict[str, int | str] | None = None) -> None:
        """Publish and wait for the broker's confirm; raises if the broker refused or could not route it."""
        await self._exchange.publish(_to_amqp(message, headers), routing_key=routing_key_of(message))
        self.metrics.published.labels(message.type_name()).inc()

    async def publish_many(self, messages: Sequence[Message]) -> None:
        """Publish concurrently (confirms are pipelined) and wait for them all."""
        await asyncio.gather(*(self.publish(m) for m in messages))

    async def send_to_queue(self, queue: str, message: Message, *, attempt: int, delay_ms: int) -> None:
        """Put a message straight into one queue (the default exchange), optionally expiring into another."""
        amqp = _to_amqp(message, {ATTEMPT_HEADER: attempt})
        if delay_ms:
            amqp.expiration = delay_ms / 1000
        await self._channel.default_exchange.publish(amqp, routing_key=queue)

    async def consume(self, spec: QueueSpec, handler: Handler, *, batch_size: int = 1,
                      linger: float = 0.0, workers: int = 1, prefetch: int | None = None) -> None:
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=prefetch or max(batch_size * workers * 2, 16))
        consumer = _BatchConsumer(self, spec, handler, batch_size=batch_size, linger=linger, workers=workers)
        queue = await channel.get_queue(spec.name, ensure=False)
        await queue.consume(consumer.on_message)
        consumer.start()
        self._consumers.append(consumer)

    async def close(self) -> None:
        for consumer in self._consumers:
            await consumer.stop()
        await self._connection.close()


async def declare_topology(channel: AbstractChannel, topology: Topology) -> AbstractExchange:
    exchange = await channel.declare_exchange(topology.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    for spec in topology.queues():
        await channel.declare_queue(spec.dead, durable=True)
        await channel.declare_queue(spec.retry, durable=True, arguments=spec.retry_arguments())
        queue = await channel.declare_queue(spec.name, durable=True, arguments=spec.arguments())
        for key in spec.bindings:
            await queue.bind(exchange, routing_key=key)
    return exchange


async def delete_topology(channel: AbstractChannel, topology: Topology) -> None:
    """Remove every queue and the exchange: for test runs sharing a broker."""
    for spec in topology.queues():
        for name in (spec.name, spec.retry, spec.dead):
            await channel.queue_delete(name)
    await channel.exchange_delete(topology.exchange)


def _to_amqp(message: Message, headers: dict[str, int | str] | None) -> aio_pika.Message:
    return aio_pika.Message(
        encode(message),
        content_type="application/json",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT if message.persistent else aio_pika.DeliveryMode.NOT_PERSISTENT,
        message_id=str(message.message_id),
        type=message.type_name(),
        timestamp=message.occurred_at,
        headers={"schema_version": message.schema_version, **(headers or {})},
    )


def backoff_ms(attempt: int) -> int:
    """1 s, 2 s, 4 s, ... capped at 30 s."""
    return int(min(30.0, 2.0 ** (attempt - 1)) * 1000)


class _BatchConsumer:
    """Feeds deliveries to workers, each taking up to ``batch_size`` at a time."""

    def __init__(self, bus: Bus, spec: QueueSpec, handler: Handler, *, batch_size: int, linger: float,
                 workers: int) -> None:
        self._bus = bus
        self._spec = spec
        self._handler = handler
        self._batch_size = batch_size
        self._linger = linger
        self._workers = workers
        self._inbox: asyncio.Queue[AbstractIncomingMessage] = asyncio.Queue()
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(), name=f"consume:{self._spec.name}:{i}")
                       for i in range(self._workers)]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def on_message(self, raw: AbstractIncomingMessage) -> None:
        self._inbox.put_nowait(raw)

    async def _next_batch(self) -> list[AbstractIncomingMessage]:
        batch = [await self._inbox.get()]
        while len(batch) < self._batch_size:
            try:
                batch.append(self._inbox.get_nowait())
            except asyncio.QueueEmpty:
                if not self._linger:
                    break
                try:
                    batch.append(await asyncio.wait_for(self._inbox.get(), self._linger))
                except TimeoutError:
                    break
        return batch

    async def _work(self) -> None:
        while True:
            raws = await self._next_batch()
            deliveries = [d for d in (await asyncio.gather(*(self._decode(r) for r in raws))) if d]
            if deliveries:
                await self._handle(deliveries)

    async def _decode(self, raw: AbstractIncomingMessage) -> Delivery | None:
        try:
            message = decode(raw.type, raw.body)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            log.error("Undecodable message dead-lettered.", queue=self._spec.name, type=raw.type,
                      message_id=raw.message_id, error=str(exc)[:500])
            self._bus.metrics.dead_lettered.labels(raw.type or "unknown").inc()
            await _settle(raw.reject(requeue=False))
            return None
        if raw.redelivered:
            self._bus.metrics.redelivered.labels(message.type_name()).inc()
        header = (raw.headers or {}).get(ATTEMPT_HEADER, 1)
        attempt = header if isinstance(header, int) else 1
        return Delivery(message, attempt, raw)

    async def _handle(self, deliveries: list[Delivery]) -> None:
        pause = 0.5
        while True:
            try:
                with self._bus.metrics.batch_seconds.time():
                    await self._handler(deliveries)
            except DependencyUnavailableError as exc:
                log.warning("Dependency unavailable, holding messages.", queue=self._spec.name,
                            held=len(deliveries), retry_in=pause, error=str(exc))
                await asyncio.sleep(pause)
                pause = min(pause * 2, 15.0)
                continue
            except Exception as exc:
                if len(deliveries) > 1:
                    log.warning("Batch failed, handling its messages one by one.", queue=self._spec.name,
                                size=len(deliveries), error=repr(exc))
                    for delivery in deliveries:
                        await self._handle([delivery])
                    return
                await self._fail(deliveries[0], exc)
                return
            for delivery in deliveries:
                self._bus.metrics.consumed.labels(delivery.message.type_name()).inc()
                await _settle(delivery.raw.ack())
            return

    async def _fail(self, delivery: Delivery, exc: Exception) -> None:
        name = delivery.message.type_name()
        bound = {"queue": self._spec.name, "type": name, "message_id": str(delivery.message.message_id),
                 "attempt": delivery.attempt}
        if isinstance(exc, RetryLaterError) and delivery.attempt < MAX_ATTEMPTS:
            delay = backoff_ms(delivery.attempt)
            log.warning("Message will be retried.", **bound, retry_in_ms=delay, error=str(exc))
            await self._bus.send_to_queue(self._spec.retry, delivery.message, attempt=delivery.attempt + 1,
                                          delay_ms=delay)
            self._bus.metrics.retried.labels(name).inc()
            await _settle(delivery.raw.ack())
            return
        log.error("Message dead-lettered.", **bound, error=repr(exc), exc_info=not isinstance(exc, RetryLaterError))
        self._bus.metrics.dead_lettered.labels(name).inc()
        await _settle(delivery.raw.reject(requeue=False))


async def _settle(settling: Awaitable[None]) -> None:
    """Ack or reject; if the channel died meanwhile the broker redelivers, and handlers are idempotent."""
    try:
        await settling
    except Exception as exc:
        log.warning("Could not settle a message; the broker will redeliver it.", error=repr(exc))

"""The message bus on RabbitMQ: declare the topology, publish with confirms, consume in batches.

Reliability rules kept here so that no service has to remember them:
- every service declares the whole topology, so nothing is published to a queue that does not exist yet;
- messages are persistent and mandatory (but for notifications, see Message), and ``publish`` returns only once
  the broker confirmed them;
- messages published while earlier ones wait for their confirms go out together, one AMQP message per type and
  routing key (a batched body, see esap_messages.registry), so the broker's work per message falls as the load
  rises, and a lone message still leaves at once;
- messages kept as their bodies (the catalog's outbox) go out byte for byte as they were written, batched the
  same way (``publish_encoded``);
- a consumer takes each message of a batched body as a delivery of its own; the AMQP message is acked once all of
  them are settled, and one that fails alone is retried or dead-lettered alone;
- a consumed message is acked only after its handler returned, i.e. after its effect is durable;
- a failure is classed by ``is_transient``: a transient one (``DependencyUnavailableError``: the database is
  down...; the broker itself away: the handler could not publish) holds the batch, unacked, and tries again with
  backoff, so an outage costs time, never messages; if the connection the batch came on is lost meanwhile, the
  batch is let go, since the broker delivers it again;
- any other failure splits a batch so one bad message cannot block the others; ``RetryLaterError`` sends a message
  through the retry queue with backoff, up to MAX_ATTEMPTS; a message that fails on its own otherwise (it can never
  succeed: a permanent refusal, a bug) is dead-lettered, as is an undecodable one;
- consumers come back after every reconnection: their queues are declared on their own channel, which the robust
  connection restores with its consumer; ``ready`` says whether the connection is up and every consumer live, and
  the metrics count reconnections and live consumers per queue.

Knows the message contracts, never their meaning.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import uuid4

import aio_pika
import aiormq
import structlog
from aio_pika.abc import (
    AbstractChannel,
    AbstractExchange,
    AbstractIncomingMessage,
    AbstractRobustConnection,
)
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from esap_messages import BATCH_HEADER, MESSAGE_TYPES, Encoded, Message, Topology, decode_all, encode, join_bodies
from esap_messages.registry import UnknownMessageTypeError, routing_key_of
from esap_messages.topology import ATTEMPT_HEADER, MAX_ATTEMPTS, QueueSpec
from esap_runtime.batching import Coalescer, LoadGauge
from esap_runtime.stopping import cancel_and_wait

log = structlog.get_logger("esap.bus")


class RetryLaterError(Exception):
    """The message could not be handled now but may be later: redeliver it after a backoff."""


class DependencyUnavailableError(Exception):
    """Something the handler needs is down: hold the messages and try again, without spending attempts."""


TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    DependencyUnavailableError,
    aiormq.exceptions.AMQPError,  # the broker closed the connection or the channel, or did not confirm
    aiormq.exceptions.ChannelInvalidStateError,  # a publish on a channel being restored after a reconnection
    ConnectionError,
    TimeoutError,
)
"""What a handler may raise when something it needs is away: the message is held and tried again, never
dead-lettered. A message that fails otherwise cannot succeed by waiting."""


def is_transient(exc: BaseException) -> bool:
    return isinstance(exc, TRANSIENT_ERRORS)


HOLD_PAUSE_MAX = 5.0
"""Longest pause between two tries of a held batch: once the dependency is back, a held batch waits at most this."""

RECONNECT_SECONDS = 2.0
"""Pause between two attempts to reconnect to the broker: how long a repaired broker waits for its clients at most."""


MAX_BATCH = 256
"""Most messages in one AMQP message."""

CLOSE_SECONDS = 10.0
"""How long closing waits for the broker before it gives up on a clean close: a stop must not hang."""

MAX_IN_FLIGHT = 4
"""AMQP messages a publisher has waiting for confirms before it holds further messages back to batch them."""

PUBLISH_LINGER = 0.010
PUBLISH_LINGER_ABOVE = 300.0
"""While a publisher publishes more than PUBLISH_LINGER_ABOVE messages/s, a batch waits PUBLISH_LINGER seconds
for more (Coalescer's linger): fewer, larger AMQP messages, each a socket write that wakes the broker and then a
consumer. Below that rate nothing waits. At 600 jobs/s offered, 10 ms cost about a sixth less CPU per job than 5 ms
in six interleaved pairs of runs out of seven, with POST latency no higher; 20 ms saved nothing more and added 8 ms
to it."""

CONSUME_LINGER_ABOVE = 500.0
"""A consumer lingers (``consume``'s ``linger``) only while more than this many messages/s arrive."""


class _Envelope:
    """One AMQP message and how many of the messages it carried are not settled yet."""

    def __init__(self, raw: AbstractIncomingMessage, size: int) -> None:
        self.raw = raw
        self.size = size
        self._unsettled = size

    async def settle_one(self) -> None:
        self._unsettled -= 1
        if self._unsettled == 0:
            await _settle(self.raw.ack())


@dataclass(frozen=True)
class Delivery:
    """A decoded message with what the consumer needs to settle it."""

    message: Message
    attempt: int
    raw: AbstractIncomingMessage
    envelope: _Envelope | None = None


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
        self.held = Counter(
            f"{service}_messages_held_total", "Batches held unacked because something they need is away.",
            registry=registry,
        )
        self.reconnections = Counter(
            f"{service}_bus_reconnections_total", "Times the connection to the broker was made again.",
            registry=registry,
        )
        self.connected = Gauge(
            f"{service}_bus_connected", "1 while the connection to the broker and its publishing channel are open.",
            registry=registry,
        )
        self.consumers = Gauge(
            f"{service}_bus_consumers", "Live consumers of this process per queue: 0 means the queue is not read.",
            ["queue"], registry=registry,
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
        self._outgoing: Coalescer[Message, None] = Coalescer(
            self._send_batch, max_in_flight=MAX_IN_FLIGHT, max_batch=MAX_BATCH, linger=PUBLISH_LINGER,
            linger_above=PUBLISH_LINGER_ABOVE)
        metrics.connected.set_function(lambda: float(self.is_connected))
        connection.reconnect_callbacks.add(self._reconnected)

    @classmethod
    async def connect(cls, url: str, topology: Topology, metrics: BusMetrics) -> "Bus":
        connection = await connect_robust(url, topology.namespace)
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        exchange = await declare_topology(channel, topology)
        return cls(connection, channel, exchange, topology, metrics)

    @property
    def is_connected(self) -> bool:
        return not self._connection.is_closed and not self._channel.is_closed

    @property
    def ready(self) -> bool:
        """Connected, and every consumer live on its queue: the service does its work (readiness)."""
        return self.is_connected and all(consumer.live for consumer in self._consumers)

    def _reconnected(self, *_args: object) -> None:
        self.metrics.reconnections.inc()
        log.info("Reconnected to the broker.", consumers=[c.queue for c in self._consumers])

    async def publish(self, message: Message) -> None:
        """Publish and wait for the broker's confirm; raises if the broker refused or could not route it."""
        await self._outgoing.submit(message)

    async def publish_many(self, messages: Sequence[Message]) -> None:
        """Publish together (one AMQP message per type and routing key) and wait for every confirm."""
        await asyncio.gather(*(self._outgoing.submit(m) for m in messages))

    async def _send_batch(self, messages: list[Message]) -> list[BaseException | None]:
        """One AMQP message per type and routing key, sent together; each message's outcome is its group's."""
        groups: dict[tuple[str, str], list[int]] = {}
        for i, message in enumerate(messages):
            groups.setdefault((message.type_name(), routing_key_of(message)), []).append(i)
        outcomes: list[BaseException | None] = [None] * len(messages)
        sent = await asyncio.gather(*(self._send_together([messages[i] for i in group]) for group in groups.values()),
                                    return_exceptions=True)
        for group, outcome in zip(groups.values(), sent, strict=True):
            for i in group:
                outcomes[i] = outcome
        return outcomes

    async def _send_together(self, messages: Sequence[Message]) -> None:
        """One AMQP message for messages of one type and routing key; returns once the broker confirmed it."""
        first = messages[0]
        amqp = _to_amqp(first, None) if len(messages) == 1 else _batch_to_amqp(
            type(first), [encode(m) for m in messages], first.schema_version, first.occurred_at)
        await self._exchange.publish(amqp, routing_key=routing_key_of(first), mandatory=first.mandatory)
        self.metrics.published.labels(first.type_name()).inc(len(messages))

    async def publish_encoded(self, messages: Sequence[Encoded]) -> None:
        """Publish messages kept as their bodies (the catalog's outbox) byte for byte, without parsing them again,
        and wait for every confirm; raises as ``publish`` does. One AMQP message per type, routing key and schema
        version, of at most MAX_BATCH messages, all sent at once: the caller gathered them already, so they skip
        the publishing linger. A type this version does not know raises before anything is sent."""
        groups: dict[tuple[str, str, int], list[Encoded]] = {}
        for message in messages:
            if message.type_name not in MESSAGE_TYPES:
                raise UnknownMessageTypeError(f"unknown message type {message.type_name!r}")
            groups.setdefault((message.type_name, message.routing_key, message.schema_version), []).append(message)
        sends = [self._send_encoded(group[start:start + MAX_BATCH])
                 for group in groups.values() for start in range(0, len(group), MAX_BATCH)]
        for outcome in await asyncio.gather(*sends, return_exceptions=True):
            if isinstance(outcome, BaseException):
                raise outcome

    async def _send_encoded(self, group: Sequence[Encoded]) -> None:
        first = group[0]
        cls = MESSAGE_TYPES[first.type_name]
        amqp = _batch_to_amqp(cls, [m.body for m in group], first.schema_version, first.occurred_at)
        await self._exchange.publish(amqp, routing_key=first.routing_key, mandatory=cls.mandatory)
        self.metrics.published.labels(first.type_name).inc(len(group))

    async def send_to_queue(self, queue: str, message: Message, *, attempt: int, delay_ms: int) -> None:
        """Put a message straight into one queue (the default exchange), optionally expiring into another."""
        amqp = _to_amqp(message, {ATTEMPT_HEADER: attempt})
        if delay_ms:
            amqp.expiration = delay_ms / 1000
        await self._channel.default_exchange.publish(amqp, routing_key=queue)

    async def consume(self, spec: QueueSpec, handler: Handler, *, batch_size: int = 1,
                      linger: float = 0.0, workers: int = 1, prefetch: int | None = None,
                      linger_above: float = CONSUME_LINGER_ABOVE) -> None:
        channel = await self._connection.channel()
        await channel.set_qos(prefetch_count=prefetch or max(batch_size * workers * 2, 16))
        consumer = _BatchConsumer(self, spec, handler, batch_size=batch_size, linger=linger, workers=workers,
                                  linger_above=linger_above)
        # Declared (as the topology declares it), not merely looked up: the robust channel restores only the queues
        # declared on it, and with each its consumers, when the connection comes back.
        queue = await channel.declare_queue(spec.name, durable=True, arguments=spec.arguments())
        consumer.attach(channel, await queue.consume(consumer.on_message))
        consumer.start()
        self._consumers.append(consumer)
        self.metrics.consumers.labels(spec.name).set_function(lambda: float(consumer.live))

    async def close(self) -> None:
        """Stop consuming, then close the connection; unsettled deliveries go back to the queue. A broker that
        does not answer the close within CLOSE_SECONDS is left to notice the dropped socket."""
        for consumer in self._consumers:
            await consumer.stop()
        try:
            await asyncio.wait_for(self._connection.close(), CLOSE_SECONDS)
        except TimeoutError:
            log.warning("The broker did not answer the close in time; the connection is dropped.",
                        timeout=CLOSE_SECONDS)


async def connect_robust(url: str, name: str) -> AbstractRobustConnection:
    """A connection that comes back by itself (with its channels, declared queues and their consumers), trying every
    RECONNECT_SECONDS while the broker is away."""
    return await aio_pika.connect_robust(url, client_properties={"connection_name": name},
                                         reconnect_interval=RECONNECT_SECONDS)


def consuming(channel: AbstractChannel, consumer_tag: str) -> bool:
    """Whether ``channel`` is open and the broker delivers to ``consumer_tag`` on it now.

    aio-pika has no public, non-blocking way to read the open AMQP channel under a robust one; the attribute it
    keeps it in is read here only, and a broker restart test shows this answer going to False and back."""
    if channel.is_closed:
        return False
    underlay = getattr(channel, "_channel", None)
    consumers = getattr(getattr(underlay, "channel", None), "consumers", None)
    return consumers is not None and consumer_tag in consumers


async def declare_topology(channel: AbstractChannel, topology: Topology) -> AbstractExchange:
    exchange = await channel.declare_exchange(topology.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
    for spec in topology.queues():
        await channel.declare_queue(spec.dead, durable=True)
        await channel.declare_queue(spec.retry, durable=True, arguments=spec.retry_arguments())
        queue = await channel.declare_queue(spec.name, durable=True, arguments=spec.arguments())
        for key in spec.bindings:
            await queue.bind(exchange, routing_key=key)
        for key in spec.retired:  # unbinding what is not bound is a no-op for the broker
            await queue.unbind(exchange, routing_key=key)
    return exchange


async def delete_topology(channel: AbstractChannel, topology: Topology) -> None:
    """Remove every queue and the exchange: for test runs sharing a broker."""
    for spec in topology.queues():
        for name in (spec.name, spec.retry, spec.dead):
            await channel.queue_delete(name)
    await channel.exchange_delete(topology.exchange)


def _delivery_mode(cls: type[Message]) -> aio_pika.DeliveryMode:
    return aio_pika.DeliveryMode.PERSISTENT if cls.persistent else aio_pika.DeliveryMode.NOT_PERSISTENT


def _to_amqp(message: Message, headers: dict[str, int | str] | None) -> aio_pika.Message:
    return aio_pika.Message(
        encode(message),
        content_type="application/json",
        delivery_mode=_delivery_mode(type(message)),
        message_id=str(message.message_id),
        type=message.type_name(),
        timestamp=message.occurred_at,
        headers={"schema_version": message.schema_version, **(headers or {})},
    )


def _batch_to_amqp(cls: type[Message], bodies: Sequence[bytes], schema_version: int,
                   occurred_at: datetime) -> aio_pika.Message:
    """Encoded messages of one type as one AMQP message (a batched body); its id is its own."""
    return aio_pika.Message(
        join_bodies(bodies),
        content_type="application/json",
        delivery_mode=_delivery_mode(cls),
        message_id=str(uuid4()),
        type=cls.type_name(),
        timestamp=occurred_at,
        headers={"schema_version": schema_version, BATCH_HEADER: len(bodies)},
    )


def backoff_ms(attempt: int) -> int:
    """1 s, 2 s, 4 s, ... capped at 30 s."""
    return int(min(30.0, 2.0 ** (attempt - 1)) * 1000)


class _BatchConsumer:
    """Feeds deliveries to workers, each taking up to ``batch_size`` at a time."""

    def __init__(self, bus: Bus, spec: QueueSpec, handler: Handler, *, batch_size: int, linger: float,
                 workers: int, linger_above: float) -> None:
        self._bus = bus
        self._spec = spec
        self._handler = handler
        self._batch_size = batch_size
        self._linger = linger
        self._workers = workers
        self._inbox: asyncio.Queue[Delivery] = asyncio.Queue()
        self._load = LoadGauge(linger_above)
        self._tasks: list[asyncio.Task[None]] = []
        self._channel: AbstractChannel | None = None
        self._tag = ""

    @property
    def queue(self) -> str:
        return self._spec.name

    @property
    def live(self) -> bool:
        return self._channel is not None and consuming(self._channel, self._tag)

    def attach(self, channel: AbstractChannel, consumer_tag: str) -> None:
        self._channel = channel
        self._tag = consumer_tag

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._work(), name=f"consume:{self._spec.name}:{i}")
                       for i in range(self._workers)]

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)

    async def on_message(self, raw: AbstractIncomingMessage) -> None:
        deliveries = await self._decode(raw)
        if self._linger:
            self._load.arrived(asyncio.get_running_loop().time(), len(deliveries))
        for delivery in deliveries:
            self._inbox.put_nowait(delivery)

    async def _next_batch(self) -> list[Delivery]:
        """What is waiting, up to ``batch_size``. Lingers for more, at most ``linger`` seconds in all, only while
        messages arrive faster than ``linger_above`` per second: under load that makes the batches larger,
        and a message at a quiet time, or at a moderate rate, goes through at once."""
        batch = [await self._inbox.get()]
        deadline = None
        while len(batch) < self._batch_size:
            try:
                batch.append(self._inbox.get_nowait())
                continue
            except asyncio.QueueEmpty:
                if not self._linger or not self._load.busy:
                    break
            loop = asyncio.get_running_loop()
            if deadline is None:
                deadline = loop.time() + self._linger
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                batch.append(await asyncio.wait_for(self._inbox.get(), remaining))
            except TimeoutError:
                break
        return batch

    async def _work(self) -> None:
        while True:
            deliveries = _current(await self._next_batch())
            if not deliveries:
                continue  # all came on a connection since lost: the broker delivers them again
            try:
                await self._handle(deliveries)
            except Exception as exc:
                # Retrying or dead-lettering failed (the connection went?): hand the messages back to the broker,
                # which delivers them again; handlers are idempotent.
                log.error("Could not settle a batch; the broker will redeliver it.", queue=self._spec.name,
                          size=len(deliveries), error=repr(exc))
                for raw in {id(d.raw): d.raw for d in deliveries}.values():
                    await _settle(raw.nack(requeue=True))

    async def _decode(self, raw: AbstractIncomingMessage) -> list[Delivery]:
        try:
            messages = decode_all(raw.type, raw.body, raw.headers)
        except ValueError as exc:  # pydantic.ValidationError is a ValueError
            log.error("Undecodable message dead-lettered.", queue=self._spec.name, type=raw.type,
                      message_id=raw.message_id, error=str(exc)[:500])
            self._bus.metrics.dead_lettered.labels(raw.type or "unknown").inc()
            await _settle(raw.reject(requeue=False))
            return []
        if raw.redelivered:
            self._bus.metrics.redelivered.labels(raw.type or "unknown").inc(len(messages))
        header = (raw.headers or {}).get(ATTEMPT_HEADER, 1)
        attempt = header if isinstance(header, int) else 1
        envelope = _Envelope(raw, len(messages))
        return [Delivery(message, attempt, raw, envelope) for message in messages]

    async def _handle(self, deliveries: list[Delivery]) -> None:
        pause = 0.5
        held_since: float | None = None
        while True:
            try:
                with self._bus.metrics.batch_seconds.time():
                    await self._handler(deliveries)
            except Exception as exc:
                if not is_transient(exc):
                    await self._refused(deliveries, exc)
                    return
                if held_since is None:  # logged once per held batch, however long the outage
                    held_since = asyncio.get_running_loop().time()
                    self._bus.metrics.held.inc()
                    log.warning("Something the handler needs is away; holding the messages until it returns.",
                                queue=self._spec.name, held=len(deliveries), error=repr(exc))
                await asyncio.sleep(pause)
                pause = min(pause * 2, HOLD_PAUSE_MAX)
                deliveries = _current(deliveries)
                if not deliveries:
                    log.info("The held messages' connection was lost; the broker delivers them again.",
                             queue=self._spec.name)
                    return
                continue
            if held_since is not None:
                log.info("Held messages handled.", queue=self._spec.name, handled=len(deliveries),
                         held_seconds=round(asyncio.get_running_loop().time() - held_since, 1))
            for delivery in deliveries:
                self._bus.metrics.consumed.labels(delivery.message.type_name()).inc()
                await _ack(delivery)
            return

    async def _refused(self, deliveries: list[Delivery], exc: Exception) -> None:
        """A failure that waiting does not cure: split the batch, then retry or dead-letter each message alone."""
        if len(deliveries) > 1:
            log.warning("Batch failed, handling its messages one by one.", queue=self._spec.name,
                        size=len(deliveries), error=repr(exc))
            for delivery in deliveries:
                await self._handle([delivery])
            return
        await self._fail(deliveries[0], exc)

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
            await _ack(delivery)
            return
        log.error("Message dead-lettered.", **bound, error=repr(exc), exc_info=not isinstance(exc, RetryLaterError))
        self._bus.metrics.dead_lettered.labels(name).inc()
        if delivery.envelope is None or delivery.envelope.size == 1:
            await _settle(delivery.raw.reject(requeue=False))
            return
        # One of several in an AMQP message: it goes to the dead-letter queue on its own, the others stay.
        await self._bus.send_to_queue(self._spec.dead, delivery.message, attempt=delivery.attempt, delay_ms=0)
        await delivery.envelope.settle_one()


def _current(deliveries: list[Delivery]) -> list[Delivery]:
    """The deliveries whose channel is still open: one that came before a reconnection can no longer be settled, and
    the broker delivers it again on the new channel."""
    return [d for d in deliveries if not d.raw.channel.is_closed]


async def _ack(delivery: Delivery) -> None:
    if delivery.envelope is None:
        await _settle(delivery.raw.ack())
    else:
        await delivery.envelope.settle_one()


async def _settle(settling: Awaitable[None]) -> None:
    """Ack or reject; if the channel died meanwhile the broker redelivers, and handlers are idempotent."""
    try:
        await settling
    except Exception as exc:
        log.warning("Could not settle a message; the broker will redeliver it.", error=repr(exc))

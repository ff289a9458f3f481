"""The outbox relay on real PostgreSQL and RabbitMQ: stored bodies go out byte for byte, never parsed again,
with the schema version they were written with; a row of a type this version does not know cannot hold back the
others; rows committed while earlier ones await the broker's confirm go out without waiting for it."""

import asyncio
import contextlib
from collections.abc import Sequence

import aio_pika
import asyncpg
from prometheus_client import CollectorRegistry

from esap_catalog.metrics import CatalogMetrics
from esap_catalog.services.relay import OutboxRelay
from esap_catalog.storage.messages import OutboxStore
from esap_messages import (
    BATCH_HEADER,
    Encoded,
    JobPhaseChanged,
    Phase,
    Topology,
    encode,
    join_bodies,
    new_id,
    utcnow,
)

from .conftest import Catalog, eventually

INSERT = "INSERT INTO outbox (message_type, routing_key, body, schema_version) VALUES ($1, $2, $3, $4)"


async def tap_phase_changes(amqp_url: str, namespace: str,
                            received: list[aio_pika.abc.AbstractIncomingMessage]) -> aio_pika.abc.AbstractConnection:
    """Every phase change published from now on, as it came off the wire, into ``received``."""
    connection = await aio_pika.connect(amqp_url)
    tap = await (await connection.channel()).declare_queue(exclusive=True, auto_delete=True)
    await tap.bind(Topology(namespace).exchange, routing_key=f"{JobPhaseChanged.routing_key}.*")

    async def keep(raw: aio_pika.abc.AbstractIncomingMessage) -> None:
        received.append(raw)

    await tap.consume(keep, no_ack=True)
    return connection


def phase_changed(phase: Phase) -> JobPhaseChanged:
    return JobPhaseChanged(job_id=new_id(), owner="alice", workflow="w", facility="f", backend="local",
                           phase=phase, previous_phase=None, changed_at=utcnow())


async def test_rows_go_out_as_stored_with_their_own_schema_version(
        catalog: Catalog, db: asyncpg.Pool, amqp_url: str, bus_namespace: str) -> None:
    received: list[aio_pika.abc.AbstractIncomingMessage] = []
    connection = await tap_phase_changes(amqp_url, bus_namespace, received)

    current = phase_changed(Phase.QUEUED)
    # As an older version could have written it: other key order and spacing, a version this one does not use,
    # and a row from before the schema_version column (NULL).
    older = phase_changed(Phase.EXECUTING)
    older_body = encode(older).replace(b'"phase":"EXECUTING",', b"")[:-1] + b', "phase": "EXECUTING"}'
    unversioned = phase_changed(Phase.COMPLETED)
    await db.execute(INSERT, "JobPhaseChanged", current.routing_key_for(), encode(current),
                     current.schema_version)
    await db.execute(INSERT, "JobPhaseChanged", older.routing_key_for(), older_body, 7)
    await db.execute(INSERT, "JobPhaseChanged", unversioned.routing_key_for(), encode(unversioned), None)
    catalog.factory.relay.wake()

    async def three() -> bool:
        return len(received) == 3

    await eventually(three, within=5)
    by_key = {raw.routing_key: raw for raw in received}
    for message, body, version in ((current, encode(current), current.schema_version),
                                   (older, older_body, 7),
                                   (unversioned, encode(unversioned), JobPhaseChanged.schema_version)):
        raw = by_key[message.routing_key_for()]
        assert raw.body == join_bodies([body])
        assert raw.headers[BATCH_HEADER] == 1 and raw.headers["schema_version"] == version
        assert raw.type == "JobPhaseChanged" and raw.delivery_mode == aio_pika.DeliveryMode.NOT_PERSISTENT
    await connection.close()


async def test_a_row_of_an_unknown_type_is_dropped_and_the_others_go_out(
        catalog: Catalog, db: asyncpg.Pool, amqp_url: str, bus_namespace: str) -> None:
    received: list[aio_pika.abc.AbstractIncomingMessage] = []
    connection = await tap_phase_changes(amqp_url, bus_namespace, received)

    before, after = phase_changed(Phase.QUEUED), phase_changed(Phase.EXECUTING)
    async with db.acquire() as conn, conn.transaction():
        await conn.execute(INSERT, "JobPhaseChanged", before.routing_key_for(), encode(before), 1)
        await conn.execute(INSERT, "JobTeleported", "job.teleported", b'{"to": "Mars"}', 1)
        await conn.execute(INSERT, "JobPhaseChanged", after.routing_key_for(), encode(after), 1)
    catalog.factory.relay.wake()

    async def drained() -> bool:
        return await db.fetchval("SELECT count(*) FROM outbox") == 0 and len(received) == 2

    await eventually(drained, within=5)
    assert sorted(raw.routing_key for raw in received) == sorted([before.routing_key_for(), after.routing_key_for()])
    await connection.close()


async def test_rows_committed_while_others_await_their_confirm_go_out_at_once(db: asyncpg.Pool) -> None:
    published: list[list[bytes]] = []
    first_sent, confirm_first = asyncio.Event(), asyncio.Event()

    async def publish(messages: Sequence[Encoded]) -> None:
        published.append([m.body for m in messages])
        if len(published) == 1:  # the broker is slow to confirm the first claim (its disk, say)
            first_sent.set()
            await confirm_first.wait()

    relay = OutboxRelay(OutboxStore(db), publish, CatalogMetrics(CollectorRegistry()), batch_size=500,
                        sweep_seconds=60)
    running = asyncio.create_task(relay.run())
    earlier, later = phase_changed(Phase.QUEUED), phase_changed(Phase.QUEUED)
    try:
        await db.execute(INSERT, "JobPhaseChanged", earlier.routing_key_for(), encode(earlier), 1)
        relay.wake()
        await asyncio.wait_for(first_sent.wait(), 5)
        await db.execute(INSERT, "JobPhaseChanged", later.routing_key_for(), encode(later), 1)
        relay.wake()

        async def later_sent() -> bool:
            return len(published) == 2

        await eventually(later_sent, within=2)
        assert published == [[encode(earlier)], [encode(later)]]
    finally:
        confirm_first.set()

    async def drained() -> bool:
        return await db.fetchval("SELECT count(*) FROM outbox") == 0

    await eventually(drained, within=5)
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running

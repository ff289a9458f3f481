"""What the chain refuses: duplicated and stale messages, and callbacks with the wrong token."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from uuid import UUID

import aio_pika
import httpx
import pytest
from tests.e2e.uws_client import create_job, read_job, wait_for_phase

from esap_messages import (
    DiracStatus,
    JobReported,
    JobStatusObserved,
    Message,
    StatusSource,
    SubmitJob,
    Topology,
    decode_all,
    encode,
)
from esap_messages.registry import routing_key_of
from esap_runtime.stack import Stack

pytestmark = pytest.mark.e2e


class Tap:
    """A queue of the test's own bound beside the services', to see (and replay) what travels on the bus."""

    def __init__(self, channel: aio_pika.abc.AbstractChannel, queue: aio_pika.abc.AbstractQueue,
                 exchange: aio_pika.abc.AbstractExchange) -> None:
        self.channel, self.queue, self.exchange = channel, queue, exchange
        self.seen: list[Message] = []  # taken off the queue, not asked for yet: one AMQP message may carry many

    async def next_for(self, job_id: str, type_name: str, within: float = 30) -> Message:
        deadline = asyncio.get_running_loop().time() + within
        while True:
            for i, message in enumerate(self.seen):
                if message.type_name() == type_name and str(getattr(message, "job_id", "")) == job_id:
                    return self.seen.pop(i)
            if asyncio.get_running_loop().time() >= deadline:
                raise AssertionError(f"no {type_name} for {job_id} within {within} s")
            raw = await self.queue.get(fail=False, no_ack=True)
            if raw is None:
                await asyncio.sleep(0.05)
                continue
            self.seen.extend(decode_all(raw.type, raw.body, raw.headers))

    async def replay(self, message: Message) -> None:
        """The very message again, as the broker would redeliver it (same message id)."""
        amqp = aio_pika.Message(encode(message), message_id=str(message.message_id), type=message.type_name(),
                                content_type="application/json", delivery_mode=aio_pika.DeliveryMode.PERSISTENT)
        await self.exchange.publish(amqp, routing_key=routing_key_of(message))


@pytest.fixture
async def tap(stack: Stack) -> AsyncIterator[Tap]:
    connection = await aio_pika.connect(stack.amqp_url)  # type: ignore[attr-defined]
    channel = await connection.channel()
    topology = Topology(stack.namespace)  # type: ignore[attr-defined]
    exchange = await channel.get_exchange(topology.exchange)
    queue = await channel.declare_queue(exclusive=True, auto_delete=True)
    for key in ("catalog.#", "submitter.#"):
        await queue.bind(exchange, routing_key=key)
    yield Tap(channel, queue, exchange)
    await connection.close()


async def publish(tap: Tap, message: JobStatusObserved | JobReported) -> None:
    await tap.exchange.publish(
        aio_pika.Message(encode(message), message_id=str(message.message_id), type=message.type_name(),
                         delivery_mode=aio_pika.DeliveryMode.PERSISTENT),
        routing_key=message.routing_key,
    )


async def test_a_duplicated_create_changes_nothing(client: httpx.AsyncClient, tap: Tap) -> None:
    job_id = await create_job(client, workflow="hello-world", Parameter1="first", PHASE="RUN")
    create = await tap.next_for(job_id, "CreateJob")
    done = await wait_for_phase(client, job_id, {"COMPLETED"}, within=30)

    await tap.replay(create)
    await tap.replay(create)
    marker = await create_job(client, workflow="noop")  # handled after the replays: the catalog saw them
    await read_job(client, marker)

    again = await read_job(client, job_id)
    assert again.phase == "COMPLETED"
    assert again.endtime == done.endtime
    assert [p.content for p in again.parameters if p.id_ == "Parameter1"] == ["first"]


async def test_stale_events_cannot_move_a_job_backwards(client: httpx.AsyncClient, tap: Tap) -> None:
    job_id = await create_job(client, workflow="noop", PHASE="RUN")
    done = await wait_for_phase(client, job_id, {"COMPLETED"}, within=30)
    now = datetime.now(UTC)

    await publish(tap, JobStatusObserved(job_id=UUID(job_id), source=StatusSource.MONITOR,
                                         status=DiracStatus.RUNNING, observed_at=now))
    await publish(tap, JobReported(job_id=UUID(job_id), status=DiracStatus.RUNNING, reported_at=now))
    marker = await create_job(client, workflow="noop")
    await read_job(client, marker)

    again = await read_job(client, job_id)
    assert again.phase == "COMPLETED"
    assert again.endtime == done.endtime


async def test_callbacks_with_a_wrong_or_foreign_or_used_token_are_refused(
    client: httpx.AsyncClient, tap: Tap
) -> None:
    first = await create_job(client, workflow="sleep", seconds="120", PHASE="RUN")
    second = await create_job(client, workflow="noop", PHASE="RUN")
    first_token = await tap.next_for(first, "SubmitJob")
    second_token = await tap.next_for(second, "SubmitJob")
    assert isinstance(first_token, SubmitJob) and isinstance(second_token, SubmitJob)
    await wait_for_phase(client, first, {"EXECUTING"}, within=30)
    await wait_for_phase(client, second, {"COMPLETED"}, within=30)
    body = {"status": "Done", "exit_code": 0}

    def bearer(token: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    wrong = await client.post(f"/uws/jobs/{first}/callback", json=body, headers=bearer("x" * 43))
    foreign = await client.post(f"/uws/jobs/{first}/callback", json=body,
                                headers=bearer(second_token.callback_token.get_secret_value()))
    used = await client.post(f"/uws/jobs/{second}/callback", json=body,
                             headers=bearer(second_token.callback_token.get_secret_value()))
    missing = await client.post(f"/uws/jobs/{first}/callback", json=body)

    assert (wrong.status_code, foreign.status_code, used.status_code) == (403, 403, 403)
    assert missing.status_code == 401
    assert (await read_job(client, first)).phase == "EXECUTING"
    assert (await read_job(client, second)).phase == "COMPLETED"

    # The right token is accepted while the job runs; its final report consumes it.
    token = first_token.callback_token.get_secret_value()
    running = await client.post(f"/uws/jobs/{first}/callback", json={"status": "Running"}, headers=bearer(token))
    assert running.status_code == 204
    await client.post(f"/uws/jobs/{first}/phase", data={"PHASE": "ABORT"})
    await wait_for_phase(client, first, {"ABORTED"}, within=30)
    after = await client.post(f"/uws/jobs/{first}/callback", json=body, headers=bearer(token))
    assert after.status_code == 403

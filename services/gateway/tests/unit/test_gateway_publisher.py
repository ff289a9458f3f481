"""The bus-backed publisher: a message is refused at once while the broker is unreachable, not after the confirm
timeout, so the client hears 503 at once."""

import asyncio
import time
from uuid import uuid4

import pytest

from esap_gateway.adapters.publisher import BusPublisher, PublishFailedError
from esap_messages import Message, RunJob


class DisconnectedBus:
    """A bus whose connection is down: a publish would wait for the reconnection."""

    is_connected = False

    async def publish(self, message: Message) -> None:
        await asyncio.sleep(3600)


async def test_a_publish_while_the_broker_is_unreachable_is_refused_at_once() -> None:
    publisher = BusPublisher(DisconnectedBus(), timeout=30)  # type: ignore[arg-type]

    started = time.monotonic()
    with pytest.raises(PublishFailedError, match="unreachable"):
        await publisher.publish(RunJob(job_id=uuid4()))

    assert time.monotonic() - started < 0.5
    assert not await publisher.healthy()

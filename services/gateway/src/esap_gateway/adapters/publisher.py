"""Publishing the gateway's commands and events on the bus: a Protocol (the port) and its Bus-backed adapter.

``publish`` returns once the broker confirmed the message, or raises ``PublishFailedError`` (refused, unroutable,
not confirmed in time, connection lost); while the connection is down it raises at once, so that a client hears
503 at once rather than after the confirm timeout. The error says whether the broker may hold the message all the
same (``maybe_sent``: it left, and its confirm was lost with the connection or came too late) or surely does not
(never sent, refused, unroutable). Must not depend on the services or on FastAPI.
"""

import asyncio
from typing import Protocol

import aiormq
import structlog

from esap_messages import Message
from esap_runtime.bus import Bus

log = structlog.get_logger("esap.gateway.publisher")


class PublishFailedError(Exception):
    """The broker did not confirm the message. ``maybe_sent``: it may hold it all the same."""

    def __init__(self, message: str, *, maybe_sent: bool = False) -> None:
        super().__init__(message)
        self.maybe_sent = maybe_sent


class Publisher(Protocol):
    async def publish(self, message: Message) -> None: ...

    async def healthy(self) -> bool: ...


class BusPublisher:
    def __init__(self, bus: Bus, *, timeout: float) -> None:
        self._bus = bus
        self._timeout = timeout

    async def publish(self, message: Message) -> None:
        if not self._bus.is_connected:
            raise PublishFailedError(f"the broker is unreachable; {message.type_name()} was not sent")
        try:
            async with asyncio.timeout(self._timeout):
                await self._bus.publish(message)
        except Exception as exc:  # aio-pika raises many kinds; all mean "not confirmed"
            log.debug("Publish not confirmed.", type=message.type_name(), message_id=str(message.message_id),
                      error=repr(exc))
            # A nack or a return is the broker's own refusal; anything else may have left with its confirm lost.
            refused = isinstance(exc, aiormq.exceptions.DeliveryError)
            raise PublishFailedError(f"the broker did not confirm {message.type_name()}",
                                     maybe_sent=not refused) from exc

    async def healthy(self) -> bool:
        return self._bus.is_connected

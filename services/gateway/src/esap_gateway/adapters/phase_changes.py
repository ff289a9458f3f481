"""The gateway's own subscription: an exclusive, auto-delete queue bound to every phase change and every command
settlement (``Topology.gateway_subscription``) on the namespace's exchange, declared here and gone with the
connection (it is no part of the durable topology: missing a change only means a waiter reads the job at its
deadline, missing a settlement that a request is answered at its bound).

Each change calls ``on_change(job_id)``, each settlement ``on_settled(settlement)``; after a reconnection
``on_reconnect()``, because changes published meanwhile were not seen. Messages are taken without acknowledgements
(hints, not work to be done).
Must not depend on the services or on FastAPI; it knows no UWS rule.
"""

from collections.abc import Callable
from typing import Any
from uuid import UUID

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection
from pydantic import ValidationError

from esap_messages import CommandSettled, JobPhaseChanged, Topology, decode_all
from esap_runtime.bus import connect_robust, consuming

log = structlog.get_logger("esap.gateway.phase_changes")

PREFETCH = 1000


class PhaseChangeSubscriber:
    def __init__(self, connection: AbstractRobustConnection, on_change: Callable[[UUID], None],
                 on_reconnect: Callable[[], None], on_settled: Callable[[CommandSettled], None]) -> None:
        self._connection = connection
        self._on_change = on_change
        self._on_reconnect = on_reconnect
        self._on_settled = on_settled
        self._channel: AbstractChannel | None = None
        self._tag = ""

    @classmethod
    async def start(cls, url: str, topology: Topology, on_change: Callable[[UUID], None],
                    on_reconnect: Callable[[], None],
                    on_settled: Callable[[CommandSettled], None] = lambda _settled: None) -> "PhaseChangeSubscriber":
        connection = await connect_robust(url, f"{topology.namespace}.gateway-waits")
        subscriber = cls(connection, on_change, on_reconnect, on_settled)
        channel = await connection.channel()
        await channel.set_qos(prefetch_count=PREFETCH)
        exchange = await channel.declare_exchange(topology.exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True, auto_delete=True)
        for key in topology.gateway_subscription:
            await queue.bind(exchange, routing_key=key)
        subscriber._channel = channel
        subscriber._tag = await queue.consume(subscriber._received, no_ack=True)
        connection.reconnect_callbacks.add(subscriber._reconnected)
        return subscriber

    @property
    def connected(self) -> bool:
        """Whether changes arrive now: the connection is up and the queue has its consumer again."""
        return self._channel is not None and not self._connection.is_closed and consuming(self._channel, self._tag)

    async def close(self) -> None:
        await self._connection.close()

    async def _received(self, raw: AbstractIncomingMessage) -> None:
        try:
            messages = decode_all(raw.type, raw.body, raw.headers)
        except (ValueError, ValidationError) as exc:
            log.warning("Ignored an unreadable phase change.", type=raw.type, error=str(exc)[:300])
            return
        for message in messages:
            if isinstance(message, JobPhaseChanged):
                self._on_change(message.job_id)
            elif isinstance(message, CommandSettled):
                self._on_settled(message)

    def _reconnected(self, *_args: Any) -> None:
        log.info("Phase change subscription restored; waiters read their jobs again.")
        self._on_reconnect()

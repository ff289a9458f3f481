"""The outbox relay: publishes committed outbox rows with confirms, in id order, then deletes them.

Woken after each commit that wrote outbox rows, and sweeping every ``sweep_seconds`` for rows a crash left
behind. At least once: a crash between the confirm and the delete publishes a row again, with the same
message id, which consumers drop. Rows are stored encoded and published as they are, never parsed again: a
message goes out byte for byte as it was written, even one written by an older version. Depends on storage and
the message registry; publishing is a callable (the bus's ``publish_encoded`` in production).
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

import structlog

from esap_catalog.metrics import CatalogMetrics
from esap_catalog.storage.messages import OutboxRow, OutboxStore
from esap_messages import MESSAGE_TYPES, Encoded, utcnow

log = structlog.get_logger("esap.catalog.relay")

PublishEncoded = Callable[[Sequence[Encoded]], Awaitable[None]]


class OutboxRelay:
    def __init__(self, store: OutboxStore, publish_encoded: PublishEncoded, metrics: CatalogMetrics, *,
                 batch_size: int, sweep_seconds: float) -> None:
        self._store = store
        self._publish_encoded = publish_encoded
        self._metrics = metrics
        self._batch_size = batch_size
        self._sweep_seconds = sweep_seconds
        self._wake = asyncio.Event()

    def wake(self) -> None:
        self._wake.set()

    async def run(self) -> None:
        """Until cancelled: drain when woken or at each sweep; on failure, back off and try again."""
        pause = self._sweep_seconds
        while True:
            woken = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), pause)
                woken = True
            self._wake.clear()
            try:
                await self.drain()
                if not woken:
                    self._metrics.outbox_pending.set(await self._store.pending())
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                pause = min(pause * 2, 15.0)
                log.warning("Outbox relay failed; rows stay for the next try.", retry_in=pause, error=repr(exc))
                continue
            pause = self._sweep_seconds

    async def drain(self) -> int:
        """Publish every pending row; returns how many were published."""
        total = 0
        while True:
            rows = await self._store.drain_once(self._batch_size, self._publish)
            total += len(rows)
            if len(rows) < self._batch_size:
                if total:
                    self._metrics.outbox_pending.set(0)
                return total

    async def _publish(self, rows: Sequence[OutboxRow]) -> None:
        messages = []
        for row in rows:
            cls = MESSAGE_TYPES.get(row.message_type)
            if cls is None:
                # A type this version does not know: publishing it is impossible and keeping it would block the rest.
                log.error("Outbox row dropped: its message type is unknown.", outbox_id=row.id,
                          type=row.message_type, body=row.body[:500].decode(errors="replace"))
                continue
            version = cls.schema_version if row.schema_version is None else row.schema_version
            messages.append(Encoded(row.message_type, row.routing_key, row.body, version, row.created_at))
        await self._publish_encoded(messages)
        now = utcnow()
        for row in rows:
            self._metrics.outbox_lag.observe(max(0.0, (now - row.created_at).total_seconds()))

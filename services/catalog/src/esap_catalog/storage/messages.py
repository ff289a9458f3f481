"""The message tables outside the batch transaction: draining the outbox, pruning the inbox.

Outbox rows are claimed with ``FOR UPDATE SKIP LOCKED`` so that several relays never publish the same row at
once, and deleted in the same transaction once the broker confirmed them. Depends on asyncpg only.
"""

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

_CLAIM = """
SELECT id, message_type, routing_key, body, schema_version, created_at FROM outbox ORDER BY id LIMIT $1
FOR UPDATE SKIP LOCKED
"""
_DELETE = "DELETE FROM outbox WHERE id = ANY($1::int8[])"
_PENDING = "SELECT count(*) FROM outbox"
_PRUNE_INBOX = "DELETE FROM inbox WHERE received_at < now() - make_interval(secs => $1)"
_PRUNE_TOMBSTONES = "DELETE FROM deleted_jobs WHERE deleted_at < now() - make_interval(secs => $1)"


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    message_type: str
    routing_key: str
    body: bytes
    schema_version: int | None
    """None for rows written before the column existed."""
    created_at: datetime


Publisher = Callable[[Sequence[OutboxRow]], Awaitable[None]]


class OutboxStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def drain_once(self, limit: int, publish: Publisher) -> list[OutboxRow]:
        """Claim up to ``limit`` rows in id order, publish them, and delete them if ``publish`` returned."""
        async with self._pool.acquire() as conn, conn.transaction():
            records = await conn.fetch(_CLAIM, limit)
            rows = [OutboxRow(r["id"], r["message_type"], r["routing_key"], r["body"], r["schema_version"],
                              r["created_at"]) for r in records]
            if rows:
                await publish(rows)
                await conn.execute(_DELETE, [row.id for row in rows])
        return rows

    async def pending(self) -> int:
        return int(await self._pool.fetchval(_PENDING))


class InboxStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def prune(self, older_than_seconds: float) -> int:
        """Forget consumed message ids, and deleted jobs' tombstones, older than ``older_than_seconds``."""
        await self._pool.execute(_PRUNE_TOMBSTONES, older_than_seconds)
        status = await self._pool.execute(_PRUNE_INBOX, older_than_seconds)
        return int(status.split()[-1])

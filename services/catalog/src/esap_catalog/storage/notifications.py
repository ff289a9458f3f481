"""The notifications table outside the batch transaction: the notifier's claims and their outcomes, the owners'
signing secrets, and what is pending (for the metrics and the notifier's next wake).

A claim takes due rows with ``FOR UPDATE SKIP LOCKED`` and leases them in the same statement (the next attempt
moved a lease ahead, the attempt counted), then commits: no transaction stays open while a delivery waits on the
network, and a notifier that dies mid-delivery leaves the row to be claimed again once its lease ends (at least
once). Depends on asyncpg, the domain's value types and esap_messages.
"""

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from esap_messages.notify import TargetKind

_CLAIM = """
WITH due AS (
    SELECT id FROM notifications
    WHERE delivered_at IS NULL AND failed_at IS NULL AND next_attempt_at <= $2
    ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED
)
UPDATE notifications n SET attempts = n.attempts + 1, next_attempt_at = $3
FROM due WHERE n.id = due.id
RETURNING n.id, n.job_id, n.owner, n.target, n.kind, n.phase, n.document, n.created_at, n.attempts
"""
_DELIVERED = "UPDATE notifications SET delivered_at = $2, last_error = NULL WHERE id = $1"
_FAILED = """
UPDATE notifications SET last_error = $2, next_attempt_at = COALESCE($3, next_attempt_at), failed_at = $4
WHERE id = $1
"""
_PENDING = """
SELECT count(*) AS n, min(created_at) AS oldest, min(next_attempt_at) AS next FROM notifications
WHERE delivered_at IS NULL AND failed_at IS NULL
"""
_ADD_ACCOUNTS = """
INSERT INTO accounts (owner, webhook_secret) SELECT * FROM unnest($1::text[], $2::text[])
ON CONFLICT (owner) DO NOTHING
"""
_SECRETS = "SELECT owner, webhook_secret FROM accounts WHERE owner = ANY($1::text[])"

ANONYMOUS = ""
"""The account of jobs without an owner (the gateway lets no anonymous caller name targets)."""


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A notification leased for one delivery attempt."""

    id: UUID
    job_id: UUID
    owner: str | None
    target: str
    kind: TargetKind
    phase: str
    document: Mapping[str, Any]
    created_at: datetime
    attempts: int
    """Counting this one."""


@dataclass(frozen=True, slots=True)
class Pending:
    count: int
    oldest: datetime | None
    next_due: datetime | None


class NotificationStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def claim(self, limit: int, now: datetime, lease_until: datetime) -> list[Claimed]:
        rows = await self._pool.fetch(_CLAIM, limit, now, lease_until)
        return [Claimed(r["id"], r["job_id"], r["owner"], r["target"], TargetKind(r["kind"]), r["phase"],
                        r["document"], r["created_at"], r["attempts"]) for r in rows]

    async def delivered(self, notice_id: UUID, at: datetime) -> None:
        await self._pool.execute(_DELIVERED, notice_id, at)

    async def failed(self, notice_id: UUID, error: str, *, retry_at: datetime | None,
                     given_up_at: datetime | None) -> None:
        """A failed attempt: tried again at ``retry_at``, or never (``given_up_at``)."""
        await self._pool.execute(_FAILED, notice_id, error[:2000], retry_at, given_up_at)

    async def pending(self) -> Pending:
        r = await self._pool.fetchrow(_PENDING)
        return Pending(int(r["n"]), r["oldest"], r["next"])

    async def secrets(self, owners: Iterable[str | None]) -> dict[str | None, str]:
        """Each owner's webhook signing secret, the account made (with a new secret) on first use."""
        keys = sorted({owner or ANONYMOUS for owner in owners})
        async with self._pool.acquire() as conn:
            await conn.execute(_ADD_ACCOUNTS, keys, [new_secret() for _ in keys])
            rows = await conn.fetch(_SECRETS, keys)
        found = {r["owner"]: r["webhook_secret"] for r in rows}
        return {(key or None): found[key] for key in keys}

"""The destruction sweeper's queries: a cluster-wide try-lock, and the jobs whose destruction time passed.

The lock is a PostgreSQL session advisory lock held on one connection for the length of a sweep, so that of
several catalogs only one sweeps at a time; it is released explicitly (pooled connections are not reset).
Depends on asyncpg only.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from uuid import UUID

import asyncpg

SWEEP_LOCK_KEY = 0x65_73_61_70_64_65_73
"""Advisory lock key of the destruction sweep ("esapdes")."""

_TRY_LOCK = "SELECT pg_try_advisory_lock($1)"
_UNLOCK = "SELECT pg_advisory_unlock($1)"
_EXPIRED = """
SELECT job_id FROM jobs WHERE destruction <= now() AND phase <> 'ARCHIVED' ORDER BY destruction LIMIT $1
"""
_EXPIRED_ARCHIVED = """
SELECT job_id FROM jobs WHERE destruction <= now() AND phase = 'ARCHIVED' ORDER BY destruction LIMIT $1
"""


class DestructionStore:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    @asynccontextmanager
    async def sweep_lock(self) -> AsyncIterator[bool]:
        """Yields True when this process holds the sweep lock, False when another one does."""
        async with self._pool.acquire() as conn:
            held = bool(await conn.fetchval(_TRY_LOCK, SWEEP_LOCK_KEY))
            try:
                yield held
            finally:
                if held:
                    await conn.fetchval(_UNLOCK, SWEEP_LOCK_KEY)

    async def expired(self, limit: int, *, archived: bool = False) -> list[UUID]:
        """Ids of jobs past their destruction time, the oldest first: not yet archived, or (``archived``)
        archived ones, which a catalog set to delete removes."""
        rows = await self._pool.fetch(_EXPIRED_ARCHIVED if archived else _EXPIRED, limit)
        return [r["job_id"] for r in rows]

"""The catalog's connection pool: JSON columns decoded to Python values on every connection.

Connections are handed back without asyncpg's default reset query (a round trip on every release): the catalog
never changes session state on pooled connections (its LISTEN connection and the migration lock are separate),
and open transactions are still rolled back by asyncpg itself. JIT compilation is off: every statement the catalog
runs is short, and PostgreSQL decides on JIT by estimated cost, which for the dispatcher's recursive index walks
(migration 0009) is thousands of times the rows they read: each compiled for about 30 ms to read ten rows.
Depends on asyncpg, orjson and structlog only.
"""

import asyncio
from typing import Any

import asyncpg
import orjson
import structlog

log = structlog.get_logger("esap.catalog.pool")

CLOSE_SECONDS = 10.0
"""How long closing waits for connections to come back before it drops them: a stop must not hang."""


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to undo: see the module docstring."""


async def create_pool(url: str, *, min_size: int, max_size: int) -> asyncpg.Pool:
    pool: asyncpg.Pool = await asyncpg.create_pool(
        url, min_size=min_size, max_size=max_size, init=_init_connection, reset=_keep_session, command_timeout=60,
        server_settings={"jit": "off"},
    )
    return pool


async def close_pool(pool: asyncpg.Pool) -> None:
    """Close gracefully; a connection still out after CLOSE_SECONDS (a query stuck on a frozen server, a release lost
    to a cancellation) is dropped rather than left to hold the service's stop forever."""
    try:
        await asyncio.wait_for(pool.close(), CLOSE_SECONDS)
    except TimeoutError:
        log.warning("Connection pool did not close in time; dropping its connections.", timeout=CLOSE_SECONDS)
        pool.terminate()

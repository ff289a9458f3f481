"""The catalog's connection pool: JSON columns decoded to Python values on every connection.

Connections are handed back without asyncpg's default reset query (a round trip on every release): the catalog
never changes session state on pooled connections (its LISTEN connection and the migration lock are separate),
and open transactions are still rolled back by asyncpg itself.
Depends on asyncpg and orjson only.
"""

from typing import Any

import asyncpg
import orjson


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def _init_connection(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Nothing to undo: see the module docstring."""


async def create_pool(url: str, *, min_size: int, max_size: int) -> asyncpg.Pool:
    pool: asyncpg.Pool = await asyncpg.create_pool(
        url, min_size=min_size, max_size=max_size, init=_init_connection, reset=_keep_session, command_timeout=60
    )
    return pool

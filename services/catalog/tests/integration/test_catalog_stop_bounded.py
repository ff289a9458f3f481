"""Stopping the catalog cannot hang on a connection that never comes back to its pool."""

import time

import pytest

from esap_catalog.storage import pool as pool_module
from esap_catalog.storage.pool import close_pool, create_pool


async def test_a_connection_never_released_does_not_hold_the_pool_close(
        database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pool_module, "CLOSE_SECONDS", 0.3)
    pool = await create_pool(database_url, min_size=1, max_size=2)
    held = await pool.acquire()  # as a task lost to a cancellation would leave it
    assert await held.fetchval("SELECT 1") == 1
    started = time.monotonic()
    await close_pool(pool)
    assert time.monotonic() - started < 5
    assert pool.is_closing()


async def test_a_pool_with_every_connection_back_closes_cleanly(database_url: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=2)
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT 1") == 1
    await close_pool(pool)
    assert pool.is_closing()

"""Where the server's autovacuum is off, the catalog vacuums and analyzes the tables every batch writes, so that
the planner knows their size (planned on a table it saw nearly empty, the batch statements scanned whole tables as
they grew: at 25,000 jobs, most of PostgreSQL's CPU). Where autovacuum runs, the catalog leaves them alone."""

import asyncio

import asyncpg

from esap_catalog.services.housekeeping import BUSY_TABLES, maintain_tables_forever

from .conftest import eventually


async def _maintained(db: asyncpg.Pool) -> set[str]:
    rows = await db.fetch("SELECT relname FROM pg_stat_user_tables WHERE last_vacuum IS NOT NULL "
                          "AND last_analyze IS NOT NULL")
    return {r["relname"] for r in rows}


async def test_the_busiest_tables_are_vacuumed_and_analyzed_when_autovacuum_is_off(db: asyncpg.Pool) -> None:
    autovacuum = await db.fetchval("SELECT current_setting('autovacuum')")
    task = asyncio.create_task(maintain_tables_forever(db, interval=0.2))
    try:
        if autovacuum == "on":
            await asyncio.wait_for(task, 5)  # returns at once: the server's autovacuum does it
            await asyncio.sleep(0.5)
            assert await _maintained(db) == set()
        else:
            await eventually(lambda: _has_all(db), within=20)
            assert not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def _has_all(db: asyncpg.Pool) -> bool:
    return set(BUSY_TABLES) <= await _maintained(db)

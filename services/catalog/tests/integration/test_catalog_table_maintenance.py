"""Where the server's autovacuum is off, the catalog does its work on the tables every batch writes, by its rule:
analyzed once enough rows changed, vacuumed once enough are dead, so that the planner knows their size (planned on
a table it saw nearly empty, the batch statements scanned whole tables as they grew: at 25,000 jobs, most of
PostgreSQL's CPU). Where autovacuum runs, the catalog leaves them alone."""

import asyncio

import asyncpg
import pytest

from esap_catalog.services.housekeeping import maintain_tables_forever, maintenance_due

from .conftest import eventually


@pytest.mark.parametrize(("live", "dead", "modified", "due"), [
    (0, 0, 0, None),
    (0, 0, 51, "ANALYZE"),
    (10_000, 0, 1_050, None),
    (10_000, 0, 1_051, "ANALYZE"),
    (10_000, 2_050, 0, None),
    (10_000, 2_051, 0, "VACUUM (ANALYZE)"),
])
def test_autovacuums_rule(live: int, dead: int, modified: int, due: str | None) -> None:
    assert maintenance_due(live, dead, modified) == due


async def _stamps(db: asyncpg.Pool, table: str) -> tuple[object, object]:
    row = await db.fetchrow("SELECT last_vacuum, last_analyze FROM pg_stat_user_tables WHERE relname = $1", table)
    assert row is not None
    return row["last_vacuum"], row["last_analyze"]


async def test_tables_that_changed_enough_are_vacuumed_or_analyzed_when_autovacuum_is_off(db: asyncpg.Pool) -> None:
    autovacuum = await db.fetchval("SELECT current_setting('autovacuum')")
    # inbox: 200 rows added (analyze due); outbox: 200 added and deleted (dead rows: vacuum due); job_results:
    # unchanged (nothing due).
    await db.execute("INSERT INTO inbox (message_id) SELECT gen_random_uuid() FROM generate_series(1, 200)")
    await db.execute("INSERT INTO outbox (message_type, routing_key, body) "
                     "SELECT 'RunJob', 'catalog.run_job', '{}' FROM generate_series(1, 200)")
    await db.execute("DELETE FROM outbox")
    task = asyncio.create_task(maintain_tables_forever(db, interval=0.2))
    try:
        if autovacuum == "on":
            await asyncio.wait_for(task, 5)  # returns at once: the server's autovacuum does it
            # last_vacuum and last_analyze stamp manual runs only (autovacuum has columns of its own).
            assert await _stamps(db, "inbox") == (None, None) and await _stamps(db, "outbox") == (None, None)
            return

        async def maintained() -> bool:
            inbox, outbox = await _stamps(db, "inbox"), await _stamps(db, "outbox")
            return inbox[1] is not None and outbox[0] is not None and outbox[1] is not None

        await eventually(maintained, within=20)
        assert (await _stamps(db, "inbox"))[0] is None, "inbox had no dead rows: analyzed, not vacuumed"
        assert await _stamps(db, "job_results") == (None, None), "job_results did not change"
        assert not task.done()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

"""Periodic chores: pruning inbox rows older than the retention (their duplicates can no longer arrive), counting
jobs by phase for the operators' gauge, and, on a server whose autovacuum is off, vacuuming and analyzing the
busiest tables.

Depends on storage and the metrics only.
"""

import asyncio

import asyncpg
import structlog
from prometheus_client import Gauge

from esap_catalog.storage.messages import InboxStore
from esap_messages import Phase

log = structlog.get_logger("esap.catalog.housekeeping")

PRUNE_INTERVAL_SECONDS = 3600.0


async def prune_inbox_forever(store: InboxStore, retention_days: float,
                              interval: float = PRUNE_INTERVAL_SECONDS) -> None:
    """At start, then every ``interval`` seconds, until cancelled; a failure waits for the next round."""
    while True:
        try:
            pruned = await store.prune(retention_days * 86400.0)
            if pruned:
                log.info("Inbox pruned.", rows=pruned, retention_days=retention_days)
        except Exception as exc:
            log.warning("Inbox pruning failed; trying again later.", error=repr(exc))
        await asyncio.sleep(interval)


PHASE_COUNT_INTERVAL_SECONDS = 15.0
_COUNT_BY_PHASE = "SELECT phase, count(*) AS jobs FROM jobs GROUP BY phase"


async def count_phases_forever(pool: asyncpg.Pool, gauge: Gauge,
                               interval: float = PHASE_COUNT_INTERVAL_SECONDS) -> None:
    """Jobs by phase, every ``interval`` seconds: one grouped count, cheap next to the work it describes."""
    while True:
        try:
            counts = {row["phase"]: row["jobs"] for row in await pool.fetch(_COUNT_BY_PHASE)}
            for phase in Phase:
                gauge.labels(phase.value).set(counts.get(phase.value, 0))
        except Exception as exc:
            log.warning("Counting jobs by phase failed; trying again later.", error=repr(exc))
        await asyncio.sleep(interval)


MAINTENANCE_INTERVAL_SECONDS = 30.0
BUSY_TABLES = ("jobs", "job_results", "job_phase_history", "inbox", "outbox")
"""The tables every batch writes: their statistics decide whether the batch's statements use their indexes."""


async def maintain_tables_forever(pool: asyncpg.Pool, interval: float = MAINTENANCE_INTERVAL_SECONDS) -> None:
    """Where the server's autovacuum is off, vacuum and analyze the busiest tables every ``interval`` seconds.

    Without statistics the planner takes a table it saw nearly empty for small: the batch statements' plans, made
    then, scan whole tables as they grow (at 25,000 jobs, most of PostgreSQL's CPU), and outbox and inbox bloat
    with dead rows. Where autovacuum runs (any normal server) this returns at once.
    """
    try:
        autovacuum = await pool.fetchval("SELECT current_setting('autovacuum')")
    except Exception as exc:
        log.warning("Could not read the server's autovacuum setting; no table maintenance.", error=repr(exc))
        return
    if autovacuum == "on":
        return
    log.warning("Autovacuum is off on the PostgreSQL server: the catalog vacuums and analyzes its busiest tables "
                "itself.", tables=BUSY_TABLES, every_seconds=interval)
    while True:
        await asyncio.sleep(interval)
        try:
            await pool.execute(f"VACUUM (ANALYZE) {', '.join(BUSY_TABLES)}")
        except Exception as exc:
            log.warning("Table maintenance failed; trying again later.", error=repr(exc))

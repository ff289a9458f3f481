"""Periodic chores: pruning inbox rows older than the retention (their duplicates can no longer arrive), counting
jobs by phase for the operators' gauge, and, on a server whose autovacuum is off, vacuuming and analyzing the
busiest tables.

Depends on asyncpg, storage, esap_messages' phases and the metrics only.
"""

import asyncio

import asyncpg
import structlog

from esap_catalog.metrics import CatalogMetrics
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
_COUNT_HELD = """
SELECT CASE WHEN held LIKE 'waiting for quota%' THEN 'quota' ELSE 'facility' END AS reason, count(*) AS jobs,
       count(DISTINCT COALESCE(owner, '')) AS owners
FROM jobs WHERE held IS NOT NULL GROUP BY 1
"""
_ACTIVE_BY_OWNER = """
SELECT count(*) AS jobs FROM jobs WHERE held IS NULL AND children = 0 AND phase IN ('QUEUED', 'EXECUTING')
GROUP BY COALESCE(owner, '')
"""


async def count_phases_forever(pool: asyncpg.Pool, metrics: CatalogMetrics,
                               interval: float = PHASE_COUNT_INTERVAL_SECONDS) -> None:
    """Jobs by phase, held jobs by reason, owners waiting for quota and active jobs per owner (a histogram, no
    series per user), every ``interval`` seconds: grouped counts, cheap next to the work they describe."""
    while True:
        try:
            counts = {row["phase"]: row["jobs"] for row in await pool.fetch(_COUNT_BY_PHASE)}
            for phase in Phase:
                metrics.jobs_by_phase.labels(phase.value).set(counts.get(phase.value, 0))
            held = {row["reason"]: row for row in await pool.fetch(_COUNT_HELD)}
            for reason in ("quota", "facility"):
                metrics.held_now.labels(reason).set(held[reason]["jobs"] if reason in held else 0)
            metrics.owners_waiting.set(held["quota"]["owners"] if "quota" in held else 0)
            for row in await pool.fetch(_ACTIVE_BY_OWNER):
                metrics.owner_active.observe(row["jobs"])
        except Exception as exc:
            log.warning("Counting jobs by phase failed; trying again later.", error=repr(exc))
        await asyncio.sleep(interval)


MAINTENANCE_CHECK_SECONDS = 5.0
BUSY_TABLES = ("jobs", "job_results", "job_phase_history", "inbox", "outbox")
"""The tables every batch writes: their statistics decide whether the batch's statements use their indexes."""
ANALYZE_BASE, ANALYZE_SCALE = 50, 0.1
VACUUM_BASE, VACUUM_SCALE = 50, 0.2
"""PostgreSQL's autovacuum defaults: a table is analyzed once more rows than BASE + SCALE times its live rows
changed since its last analyze, vacuumed once it holds more dead rows than that."""
_TABLE_CHANGES = """
SELECT relname, n_live_tup, n_dead_tup, n_mod_since_analyze FROM pg_stat_user_tables
WHERE schemaname = current_schema() AND relname = ANY($1::text[])
"""


def maintenance_due(live: int, dead: int, modified: int) -> str | None:
    """What a table with these row counts needs: ``VACUUM (ANALYZE)``, ``ANALYZE`` or nothing (None)."""
    if dead > VACUUM_BASE + VACUUM_SCALE * live:
        return "VACUUM (ANALYZE)"
    if modified > ANALYZE_BASE + ANALYZE_SCALE * live:
        return "ANALYZE"
    return None


async def maintain_tables_forever(pool: asyncpg.Pool, interval: float = MAINTENANCE_CHECK_SECONDS) -> None:
    """Where the server's autovacuum is off, do its work on the busiest tables: every ``interval`` seconds, vacuum
    or analyze those that changed enough, by autovacuum's own rule (``maintenance_due``).

    Without statistics the planner takes a table it saw nearly empty for small: the batch statements' plans, made
    then, scan whole tables as they grow (at 25,000 jobs, most of PostgreSQL's CPU), and outbox and inbox bloat
    with dead rows. A fresh database under load is analyzed within seconds, and again as it grows, as autovacuum
    would. Where autovacuum runs (any normal server) this returns at once.
    """
    try:
        autovacuum = await pool.fetchval("SELECT current_setting('autovacuum')")
    except Exception as exc:
        log.warning("Could not read the server's autovacuum setting; no table maintenance.", error=repr(exc))
        return
    if autovacuum == "on":
        return
    log.warning("Autovacuum is off on the PostgreSQL server: the catalog vacuums and analyzes its busiest tables "
                "itself.", tables=BUSY_TABLES, checked_every_seconds=interval)
    while True:
        await asyncio.sleep(interval)
        try:
            for row in await pool.fetch(_TABLE_CHANGES, list(BUSY_TABLES)):
                command = maintenance_due(row["n_live_tup"], row["n_dead_tup"], row["n_mod_since_analyze"])
                if command is not None and row["relname"] in BUSY_TABLES:
                    await pool.execute(f"{command} {row['relname']}")
        except Exception as exc:
            log.warning("Table maintenance failed; trying again later.", error=repr(exc))

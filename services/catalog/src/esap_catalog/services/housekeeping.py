"""Periodic chores: pruning inbox rows older than the retention (their duplicates can no longer arrive).

Depends on storage only.
"""

import asyncio

import structlog

from esap_catalog.storage.messages import InboxStore

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

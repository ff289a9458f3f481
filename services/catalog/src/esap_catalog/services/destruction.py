"""The destruction sweeper: jobs past their destruction time become ARCHIVED (or are removed), in batches.

Each round takes the cluster-wide sweep lock (another catalog holding it means this one skips the round), then
hands DestroyJob commands to the ingest service, a batch at a time, so that every destruction goes through the
state machine with history, results dropped and JobPhaseChanged. A job whose destruction was moved meanwhile
is left alone by the state machine's guard.
Depends on the domain, storage and the ingest service.
"""

import asyncio

import structlog

from esap_catalog.config import DestructionAction
from esap_catalog.domain.model import DestroyJob
from esap_catalog.services.ingest import IngestService
from esap_catalog.storage.destruction import DestructionStore

log = structlog.get_logger("esap.catalog.destruction")

MAX_BATCHES_PER_ROUND = 100
"""A bound on one round, so that a huge backlog cannot keep the lock forever; the next round goes on."""


class DestructionSweeper:
    def __init__(self, store: DestructionStore, ingest: IngestService, *, action: DestructionAction,
                 batch_size: int) -> None:
        self._store = store
        self._ingest = ingest
        self._remove = action is DestructionAction.DELETE
        self._batch_size = batch_size

    async def sweep(self) -> int | None:
        """One round: how many jobs were destroyed, or None when another catalog holds the lock."""
        async with self._store.sweep_lock() as held:
            if not held:
                return None
            total = 0
            for archived in (False, True) if self._remove else (False,):
                total += await self._sweep(archived)
            return total

    async def _sweep(self, archived: bool) -> int:
        total = 0
        for _ in range(MAX_BATCHES_PER_ROUND):
            ids = await self._store.expired(self._batch_size, archived=archived)
            if ids:
                await self._ingest.apply([DestroyJob(job_id=i, remove=self._remove) for i in ids])
                total += len(ids)
            if len(ids) < self._batch_size:
                break
        return total

    async def run(self, interval: float) -> None:
        """Sweep at start, then every ``interval`` seconds, until cancelled; a failure waits for the next round."""
        while True:
            try:
                destroyed = await self.sweep()
                if destroyed:
                    log.info("Jobs past their destruction time destroyed.", jobs=destroyed,
                             action="delete" if self._remove else "archive")
            except Exception as exc:
                log.warning("Destruction sweep failed; trying again later.", error=repr(exc))
            await asyncio.sleep(interval)

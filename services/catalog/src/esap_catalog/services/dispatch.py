"""The dispatch step: quotas and fair share applied inside a transaction (the rules are domain.dispatch's).

``admit`` runs in ingest's batch transaction, after the state machine and before the writes, only for a batch
that queued jobs or ended active ones: it takes the dispatch lock, counts the active jobs of the owners and
facilities involved (one indexed query), hands each queued job over or holds it, and says whether held jobs may
now be released. ``release`` runs after the batch's writes, in the same transaction, or from the periodic sweep
(the safety net: a release that lost a race, a limit raised by a re-seeded facility): it reads the held jobs, counts
again, chooses, locks the chosen (SKIP LOCKED) and hands them over through the outbox.
Depends on the domain, the unit-of-work port, the catalogue cache and the metrics.
"""

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from uuid import UUID

import structlog

from esap_catalog.domain.batch import BatchOutcome
from esap_catalog.domain.dispatch import Room, admit, candidates, choose, freed, owner_key, released
from esap_catalog.domain.model import Job
from esap_catalog.domain.transitions import Env
from esap_catalog.metrics import CatalogMetrics
from esap_catalog.services.catalogue import CatalogueCache
from esap_catalog.services.unit_of_work import JobRepository, UnitOfWork, UnitOfWorkFactory
from esap_messages import Message

log = structlog.get_logger("esap.catalog.dispatch")


@dataclass
class Admission:
    """What a batch's admission leaves for its release: where room may have freed for held jobs."""

    facilities: set[str] = field(default_factory=set)
    owners: set[str] = field(default_factory=set)
    most: int = 0
    """The most jobs a release may hand over for one owner on one facility."""

    @property
    def wanted(self) -> bool:
        return bool(self.facilities or self.owners)


class Dispatcher:
    def __init__(self, cache: CatalogueCache, metrics: CatalogMetrics, *, quota: int,
                 token_source: Callable[[], str], clock: Callable[[], datetime], prefetch: int = 0) -> None:
        self.prefetch = prefetch
        self._cache = cache
        self._metrics = metrics
        self.quota = quota
        self._token_source = token_source
        self._clock = clock

    async def _limits(self, uow: UnitOfWork, facilities: Iterable[str]) -> dict[str, int]:
        _, specs = await self._cache.resolve(uow.catalogue, (), facilities)
        return {slug: spec.max_parallel for slug, spec in specs.items()}

    async def admit(self, uow: UnitOfWork, outcome: BatchOutcome, before: Mapping[UUID, Job]) -> Admission:
        """Hold, in ``outcome``, each job the batch queued that may not go now; nothing to do (no query) for a
        batch that neither queued a job nor ended an active one."""
        queued, gone = candidates(before, outcome), freed(before, outcome)
        if not queued and not gone:
            return Admission()
        store = uow.jobs
        await store.lock_dispatch()
        facilities = {job.facility for job in (*queued, *gone)}
        owners = {owner_key(job.owner) for job in (*queued, *gone)}
        pairs, waiting, waiting_owners = await store.usage(facilities, owners)
        room = Room.counted(self.quota, await self._limits(uow, facilities), pairs, waiting, waiting_owners,
                            self.prefetch)
        for job in gone:
            room.add(job.facility, owner_key(job.owner), -1)
        sent, held = admit(outcome, queued, room)
        if sent:
            self._metrics.jobs_dispatched.labels("direct").inc(len(sent))
        if held:
            self._metrics.jobs_held.inc(len(held))
        facilities = {f for f in room.waiting if room.facility_room(f) > 0}
        owners = {o for o in room.waiting_owners if room.owner_room(o) > 0}
        most = max([room.facility_room(f) for f in facilities] + [room.owner_room(o) for o in owners] + [0])
        return Admission(facilities, owners, most)

    async def release(self, uow: UnitOfWork, facilities: Iterable[str], owners: Iterable[str],
                      per_owner: int | None = None) -> BatchOutcome:
        """Hand over the held jobs of these facilities or owners that now have room, at most ``per_owner`` of each
        owner on each facility (the room there is: fewer rows read); written in ``uow``."""
        per_owner = min(self.quota, per_owner or self.quota)
        store = uow.jobs
        outcome = BatchOutcome()
        held, pairs = await store.held(facilities, owners, per_owner=per_owner)
        if not held:
            return outcome
        room = Room.counted(self.quota, await self._limits(uow, {h.facility for h in held}), pairs,
                            prefetch=self.prefetch)
        chosen = choose(held, room)
        if not chosen:
            return outcome
        locked = await store.lock_held(h.job_id for h in chosen)
        workflows, _ = await self._cache.resolve(uow.catalogue, {job.workflow for job in locked.values()}, ())
        env = Env(now=self._clock(), new_token=self._token_source, workflows=workflows, facilities={})
        outcome = await self._hand_over(store, [locked[h.job_id] for h in chosen if h.job_id in locked], env)
        self._metrics.jobs_dispatched.labels("released").inc(len(outcome.updated))
        return outcome

    @staticmethod
    async def _hand_over(store: JobRepository, jobs: list[Job], env: Env) -> BatchOutcome:
        """Each job released, written: the plain ones in one narrow statement, one whose workflow is gone from the
        catalogue since (it ends ERROR) as any changed job."""
        outcome = BatchOutcome()
        handed: list[Job] = []
        submits: list[Message] = []
        failed = BatchOutcome()
        for job in jobs:
            decision = released(job, env)
            if decision.job is None:
                continue
            outcome.updated[job.job_id] = decision.job
            outcome.history.extend(decision.history)
            outcome.outbox.extend(decision.outbox)
            if decision.history:
                failed.updated[job.job_id] = decision.job
                failed.history.extend(decision.history)
                failed.outbox.extend(decision.outbox)
            else:
                handed.append(decision.job)
                submits.extend(decision.outbox)
        await store.release_held(handed, submits)
        if failed.updated:
            await store.update(list(failed.updated.values()))
            await store.record(failed.history, {}, failed.outbox, list(failed.updated))
        return outcome

    async def sweep(self, units: UnitOfWorkFactory) -> int:
        """Release what room allows on every facility where a job is held; returns how many were handed over."""
        async with units() as uow:
            await uow.jobs.lock_dispatch()
            facilities = await uow.jobs.waiting_facilities()
            outcome = await self.release(uow, facilities, ()) if facilities else BatchOutcome()
            await uow.commit()
        return len(outcome.updated)

    async def sweep_forever(self, units: UnitOfWorkFactory, on_commit: Callable[[], None],
                            interval: float) -> None:
        """The safety net, every ``interval`` seconds until cancelled; a failure waits for the next round."""
        while True:
            await asyncio.sleep(interval)
            try:
                if await self.sweep(units):
                    on_commit()
            except Exception as exc:
                log.warning("Releasing held jobs failed; trying again later.", error=repr(exc))

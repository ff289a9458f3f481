"""Applying a batch of consumed messages: one transaction, a fixed handful of statements, then the ack.

In one transaction: record every message id in the inbox (duplicates drop out), lock every affected job, fold
the messages over the pure state machine, then write new jobs, updated jobs, phase history, backend history,
results, outbox rows and NOTIFYs in bulk. After the commit the outbox relay is woken, and each client command's
settlement (applied, or refused and why) is handed to ``on_settled`` for the gateway waiting on it; the bus acks when
this returns.
An outage raises DependencyUnavailableError so the bus holds the messages; any other error fails the batch,
which the bus then splits so that one poison message cannot hold back the others.
The transaction is a unit of work (services.unit_of_work), PostgreSQL's in production, a fake in memory in the
tests. Depends on the domain, the unit-of-work port, storage's outage classification and the bus' error types.
"""

import secrets
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime
from uuid import UUID

import structlog

from esap_catalog.domain.batch import CLIENT_COMMANDS, BatchOutcome, decide, job_id_of, settlement
from esap_catalog.domain.campaigns import PARENT_COMMANDS, summarized
from esap_catalog.domain.dispatch import DEFAULT_QUOTA
from esap_catalog.domain.model import Job
from esap_catalog.domain.notifications import notices
from esap_catalog.domain.state_machine import Env
from esap_catalog.metrics import CatalogMetrics
from esap_catalog.services.catalogue import CatalogueCache
from esap_catalog.services.dispatch import Dispatcher
from esap_catalog.services.unit_of_work import CatalogueReader, JobRepository, UnitOfWorkFactory
from esap_catalog.storage.errors import is_outage
from esap_messages import (
    CommandSettled,
    CreateJob,
    DiracStatus,
    JobStatusObserved,
    JobSubmissionFailed,
    Message,
    RunJob,
    utcnow,
)
from esap_runtime.bus import DependencyUnavailableError

log = structlog.get_logger("esap.catalog.ingest")



def new_token() -> str:
    return secrets.token_urlsafe(32)


class IngestService:
    def __init__(self, units: UnitOfWorkFactory, cache: CatalogueCache, metrics: CatalogMetrics,
                 on_commit: Callable[[], None], *, token_source: Callable[[], str] = new_token,
                 clock: Callable[[], datetime] = utcnow,
                 on_settled: Callable[[list[CommandSettled]], None] = lambda _settled: None,
                 public_url: str = "", on_notices: Callable[[], None] = lambda: None,
                 quota: int = DEFAULT_QUOTA, prefetch: int = 0) -> None:
        self._units = units
        self._cache = cache
        self._metrics = metrics
        self._on_commit = on_commit
        self._on_settled = on_settled
        self._token_source = token_source
        self._clock = clock
        self._public_url = public_url
        self._on_notices = on_notices
        self.dispatcher = Dispatcher(cache, metrics, quota=quota, token_source=token_source, clock=clock,
                                     prefetch=prefetch)

    async def apply(self, messages: Sequence[Message]) -> None:
        unique = list({m.message_id: m for m in messages}.values())  # the broker may deliver one twice
        try:
            outcome = await self._transact(unique)
        except Exception as exc:
            if is_outage(exc):
                raise DependencyUnavailableError(f"the database is unavailable: {exc!r}") from exc
            raise
        self._metrics.batch_size.observe(len(messages))
        settled = outcome.settled if outcome is not None else []
        if outcome is not None:
            self._record(outcome)
            if outcome.outbox:
                self._on_commit()
            if outcome.noticed:
                self._on_notices()
        answered = {s.command_id for s in settled}
        settled += [settlement(m, m.job_id, "duplicate", None) for m in unique  # applied before: answered again
                    if isinstance(m, CLIENT_COMMANDS) and m.message_id not in answered]
        if settled:
            self._on_settled(settled)

    async def _transact(self, messages: list[Message]) -> BatchOutcome | None:
        async with self._units() as uow:
            store = uow.jobs
            fresh = await store.record_messages([m.message_id for m in messages])
            todo = [m for m in messages if m.message_id in fresh]
            if len(todo) < len(messages):
                self._metrics.events_ignored.labels("duplicate_message").inc(len(messages) - len(todo))
            if not todo:
                await uow.commit()  # every message was applied before: nothing to write
                return None
            jobs = await store.lock({i for i in map(job_id_of, todo) if i is not None})
            children = await self._children(store, todo, jobs)
            env = await self._env(uow.catalogue, todo, jobs)
            outcome = decide(todo, jobs, env, children)
            admission = await self.dispatcher.admit(uow, outcome, jobs)
            inserted = await store.insert(list(outcome.created.values()))
            if len(inserted) < len(outcome.created):
                # Another writer stored one of these jobs after our read: start the batch again, from the row.
                raise DependencyUnavailableError("a job was inserted concurrently; applying the batch again")
            await store.update(list(outcome.updated.values()))
            await store.record(outcome.history, outcome.backend_history, outcome.outbox, outcome.changed_ids)
            await store.replace_results(outcome.results)
            await store.delete(outcome.deleted)
            ended = await self._summarize(store, outcome, jobs, env)
            # Only a batch that ends a job with NOTIFY targets writes anything more (one statement).
            due = notices({**outcome.created, **outcome.updated, **ended}, outcome.history, outcome.results,
                          self._public_url, env.now)
            if due:
                await store.add_notices(due)
                outcome.noticed = len(due)
            if admission.wanted:
                released = await self.dispatcher.release(uow, admission.facilities, admission.owners,
                                                         admission.most)
                outcome.outbox.extend(released.outbox)
                outcome.history.extend(released.history)
            await uow.commit()
        return outcome

    @staticmethod
    async def _children(store: JobRepository, messages: list[Message], jobs: dict[UUID, Job]
                        ) -> dict[UUID, list[UUID]]:
        """The children of every campaign a command of the batch names, locked and added to ``jobs``."""
        parents = {m.job_id for m in messages if isinstance(m, PARENT_COMMANDS) and m.job_id in jobs
                   and jobs[m.job_id].children}
        if not parents:
            return {}
        found: dict[UUID, list[UUID]] = {parent: [] for parent in parents}
        for child in (await store.lock_children(parents)).values():
            jobs[child.job_id] = child
            if child.parent_id is not None:
                found[child.parent_id].append(child.job_id)
        return found

    @staticmethod
    async def _summarize(store: JobRepository, outcome: BatchOutcome, jobs: dict[UUID, Job], env: Env
                         ) -> dict[UUID, Job]:
        """Move every campaign whose children changed in this batch to the phase their counts now give, in the same
        transaction: a second, small round of writes, only for batches that touched a campaign. Returns the
        campaigns moved."""
        changed = (*outcome.created.values(), *outcome.updated.values())
        parents = {job.parent_id for job in changed if job.parent_id is not None}
        parents |= {job.job_id for job in changed if job.children}
        parents -= outcome.deleted
        if not parents:
            return {}
        known = {i: outcome.created.get(i) or outcome.updated.get(i) or jobs.get(i) for i in parents}
        missing = [i for i, job in known.items() if job is None]
        if missing:
            known.update(await store.lock(missing))
        counts = await store.child_counts(parents)
        summary = BatchOutcome()
        for parent_id, parent in known.items():
            if parent is None:
                continue
            decision = summarized(parent, counts.get(parent_id, {}), env)
            if decision.changed and decision.job is not None:
                summary.updated[parent_id] = decision.job
                summary.history.extend(decision.history)
                summary.outbox.extend(decision.outbox)
        if not summary.updated:
            return {}
        await store.update(list(summary.updated.values()))
        await store.record(summary.history, {}, summary.outbox, list(summary.updated))
        outcome.history.extend(summary.history)
        outcome.outbox.extend(summary.outbox)
        outcome.settled = [s.model_copy(update={"phase": summary.updated[s.job_id].phase})
                           if s.job_id in summary.updated else s for s in outcome.settled]
        return summary.updated

    async def _env(self, catalogue: CatalogueReader, messages: list[Message], jobs: dict[UUID, Job]) -> Env:
        workflows = {m.workflow for m in messages if isinstance(m, CreateJob)}
        workflows |= {jobs[m.job_id].workflow for m in messages if isinstance(m, RunJob) and m.job_id in jobs}
        facilities = {m.facility for m in messages if isinstance(m, CreateJob)}
        # A failure may be retried: its job's workflow (for the new SubmitJob) and facility (its max_retries).
        failing = [jobs[job_id] for m in messages if (job_id := _retry_candidate(m)) is not None and job_id in jobs]
        workflows |= {job.workflow for job in failing}
        facilities |= {job.facility for job in failing}
        known_workflows, known_facilities = await self._cache.resolve(catalogue, workflows, facilities)
        return Env(now=self._clock(), new_token=self._token_source, workflows=known_workflows,
                   facilities=known_facilities)

    def _record(self, outcome: BatchOutcome) -> None:
        self._metrics.jobs_created.inc(len(outcome.created))
        for entry in outcome.history:
            before = entry.previous_phase.value if entry.previous_phase else "none"
            self._metrics.phase_transitions.labels(before, entry.phase.value).inc()
        reasons: Counter[str] = Counter()
        for ignored in outcome.ignored:
            reasons[ignored.reason] += 1
            message = ignored.message
            level = log.info if ignored.reason in {"unknown_job", "not_owner"} else log.debug
            level("Message changed nothing.", reason=ignored.reason, type=message.type_name(),
                  message_id=str(message.message_id), job_id=str(job_id_of(message)))
        for reason, count in reasons.items():
            self._metrics.events_ignored.labels(reason).inc(count)


def _retry_candidate(message: Message) -> UUID | None:
    """The job of a failure the state machine may answer with a retry, or None."""
    if isinstance(message, JobSubmissionFailed) or (
            isinstance(message, JobStatusObserved) and message.status is DiracStatus.FAILED):
        return message.job_id
    return None

"""Ingest's rules on the fake unit of work, in memory: the inbox drops a message applied before, a replayed
batch changes nothing, an outage holds the batch and keeps nothing of it, and a report that lost a race to
another change writes nothing. The PostgreSQL unit of work is tested by the integration tests."""

from dataclasses import replace

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from esap_catalog.metrics import CatalogMetrics
from esap_catalog.services.catalogue import CatalogueCache
from esap_catalog.services.ingest import IngestService
from esap_messages import (
    AbortJob,
    CommandSettled,
    DiracStatus,
    JobReported,
    Message,
    Phase,
    UpdateJob,
)
from esap_runtime.bus import DependencyUnavailableError

from .catalog_fakes import FakeDatabase, at, create, fake_units


class Ingest:
    """An IngestService on a FakeDatabase, with what it settled and its metrics at hand."""

    def __init__(self, database: FakeDatabase | None = None) -> None:
        self.database = database or FakeDatabase()
        self.registry = CollectorRegistry()
        self.settled: list[CommandSettled] = []
        self.service = IngestService(fake_units(self.database), CatalogueCache(30),
                                     CatalogMetrics(self.registry), on_commit=lambda: None,
                                     clock=lambda: at(100), on_settled=self.settled.extend)

    async def apply(self, *messages: Message) -> None:
        await self.service.apply(messages)

    def ignored(self, reason: str) -> float:
        return self.registry.get_sample_value("catalog_events_ignored_total", {"reason": reason}) or 0.0


async def test_a_message_applied_before_is_dropped_by_the_inbox() -> None:
    ingest = Ingest()
    job = create()
    first, second = (UpdateJob(job_id=job.job_id, owner="alice", execution_duration=d) for d in (100, 200))
    await ingest.apply(job)
    await ingest.apply(first)
    await ingest.apply(second)
    before = ingest.database.tables()
    await ingest.apply(first)  # delivered again after a later change: applied anew, it would undo the later one
    assert ingest.database.jobs[job.job_id].execution_duration == 200
    assert ingest.database.tables() == before
    assert ingest.ignored("duplicate_message") == 1
    assert ingest.settled[-1].command_id == first.message_id and ingest.settled[-1].applied


async def test_a_replayed_batch_changes_nothing() -> None:
    ingest = Ingest()
    job = create(run=True)
    batch = (job, UpdateJob(job_id=job.job_id, owner="alice", execution_duration=60), create(facility="nowhere"))
    await ingest.apply(*batch)
    before = ingest.database.tables()
    assert ingest.database.jobs[job.job_id].phase is Phase.QUEUED and before["outbox"]
    settled = len(ingest.settled)
    await ingest.apply(*batch)
    assert ingest.database.tables() == before  # no job, history, outbox row or notification added
    assert ingest.ignored("duplicate_message") == len(batch)
    again = ingest.settled[settled:]
    assert [s.command_id for s in again] == [m.message_id for m in batch]
    assert all(s.applied for s in again)  # answered again, as applied before


@pytest.mark.parametrize("error", [
    ConnectionRefusedError(111, "refused"),
    asyncpg.AdminShutdownError("terminating connection due to administrator command"),
])
@pytest.mark.parametrize("where", [None, "record_messages", "lock", "record"])
async def test_an_outage_holds_the_batch_and_keeps_nothing_of_it(error: BaseException, where: str | None) -> None:
    ingest = Ingest(FakeDatabase(fail_with=error, break_on=where))
    job = create(run=True)
    with pytest.raises(DependencyUnavailableError):
        await ingest.apply(job)
    assert ingest.database.commits == 0 and not ingest.database.inbox and not ingest.database.jobs
    ingest.database.fail_with = None  # back: the held batch is applied, not dropped as a duplicate
    await ingest.apply(job)
    assert ingest.database.jobs[job.job_id].phase is Phase.QUEUED


async def test_a_fault_of_the_work_is_not_an_outage() -> None:
    ingest = Ingest(FakeDatabase(fail_with=asyncpg.UntranslatableCharacterError("bad escape"), break_on="insert"))
    with pytest.raises(asyncpg.UntranslatableCharacterError):
        await ingest.apply(create())
    assert ingest.database.commits == 0 and not ingest.database.inbox


async def test_a_callback_report_for_a_job_that_moved_meanwhile_writes_nothing() -> None:
    # The gateway verified the job's token while it was QUEUED; the abort was applied before the report arrived.
    ingest = Ingest()
    job = create(run=True)
    await ingest.apply(job)
    await ingest.apply(AbortJob(job_id=job.job_id, owner="alice"))
    stored = ingest.database.jobs[job.job_id]
    ingest.database.jobs[job.job_id] = replace(stored, phase=Phase.ABORTED)  # the executor confirmed the kill
    before = ingest.database.tables()
    await ingest.apply(JobReported(job_id=job.job_id, status=DiracStatus.RUNNING, reported_at=at(50)))
    tables = ingest.database.tables()
    assert tables["jobs"] == before["jobs"] and tables["history"] == before["history"]
    assert tables["outbox"] == before["outbox"] and tables["notified"] == before["notified"]
    assert ingest.ignored("final") == 1


async def test_a_stale_report_does_not_undo_a_newer_observation() -> None:
    ingest = Ingest()
    job = create(run=True)
    await ingest.apply(job)
    await ingest.apply(JobReported(job_id=job.job_id, status=DiracStatus.RUNNING, reported_at=at(60)))
    assert ingest.database.jobs[job.job_id].phase is Phase.EXECUTING
    before = ingest.database.tables()
    await ingest.apply(JobReported(job_id=job.job_id, status=DiracStatus.WAITING, reported_at=at(30)))
    assert ingest.database.tables()["jobs"] == before["jobs"]
    assert ingest.database.tables()["outbox"] == before["outbox"]
    assert ingest.ignored("stale") == 1

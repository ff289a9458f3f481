"""The PostgreSQL unit of work against the real database: what is committed stays, what is not is rolled back,
the connection goes back to the pool either way, and ingest on it applies a batch once. Ingest's rules are
tested in memory on the fake (unit/test_catalog_ingest_rules.py); this tests the implementation of the port."""

import asyncpg
import pytest
from prometheus_client import CollectorRegistry

from esap_catalog.metrics import CatalogMetrics
from esap_catalog.services.catalogue import CatalogueCache
from esap_catalog.services.ingest import IngestService
from esap_catalog.services.unit_of_work import UnitOfWork
from esap_catalog.storage.unit_of_work import PostgresUnitOfWork
from esap_messages import CreateJob, Phase, new_id


async def test_what_is_committed_stays_and_the_rest_is_rolled_back(db: asyncpg.Pool) -> None:
    kept, dropped, failed = new_id(), new_id(), new_id()
    async with PostgresUnitOfWork(db) as uow:
        assert await uow.jobs.record_messages([kept]) == {kept}
        await uow.commit()
    async with PostgresUnitOfWork(db) as uow:
        await uow.jobs.record_messages([dropped])  # left without a commit
    with pytest.raises(RuntimeError, match="boom"):
        async with PostgresUnitOfWork(db) as uow:
            await uow.jobs.record_messages([failed])
            raise RuntimeError("boom")
    stored = {r["message_id"] for r in await db.fetch("SELECT message_id FROM inbox")}
    assert kept in stored and dropped not in stored and failed not in stored
    assert db.get_idle_size() == db.get_size()  # every connection is back in the pool


async def test_the_catalogue_is_read_inside_the_transaction(db: asyncpg.Pool) -> None:
    uow: UnitOfWork = PostgresUnitOfWork(db)
    async with uow:
        assert [w.slug for w in await uow.catalogue.workflows(["hello-world", "no-such"])] == ["hello-world"]
        assert [f.slug for f in await uow.catalogue.facilities(["local"])] == ["local"]
    with pytest.raises(RuntimeError, match="not open"):
        uow.jobs  # noqa: B018


async def test_ingest_on_postgresql_applies_a_batch_once(db: asyncpg.Pool) -> None:
    service = IngestService(lambda: PostgresUnitOfWork(db), CatalogueCache(30), CatalogMetrics(CollectorRegistry()),
                            on_commit=lambda: None)
    create = CreateJob(job_id=new_id(), owner="alice", workflow="hello-world", facility="local", run=True)
    counts = "SELECT (SELECT count(*) FROM job_phase_history), (SELECT count(*) FROM outbox)"
    await service.apply([create])
    once = tuple(await db.fetchrow(counts))
    await service.apply([create])
    assert await db.fetchval("SELECT phase FROM jobs WHERE job_id = $1", create.job_id) == Phase.QUEUED.value
    assert tuple(await db.fetchrow(counts)) == once and once[0] > 0 and once[1] > 0

"""Retries on the real PostgreSQL: a job's attempts, its failure class and the new token's hash are stored with the
job, read back by the next batch (so a late observation of the first attempt is ignored) and shown in its view."""

import json
from datetime import UTC, datetime

import asyncpg
from prometheus_client import CollectorRegistry

from esap_catalog.metrics import CatalogMetrics
from esap_catalog.services.catalogue import CatalogueCache
from esap_catalog.services.ingest import IngestService
from esap_catalog.storage.unit_of_work import PostgresUnitOfWork
from esap_catalog.storage.views import JobViewStore
from esap_messages import (
    CreateJob,
    DiracStatus,
    ErrorType,
    FailureClass,
    JobStatusObserved,
    JobSubmitted,
    Phase,
    StatusSource,
    new_id,
)


def _observed(job_id: object, backend_job_id: str, status: DiracStatus, second: int, **fields: object
              ) -> JobStatusObserved:
    values: dict[str, object] = {
        "job_id": job_id, "backend_job_id": backend_job_id, "source": StatusSource.SUBMITTER, "status": status,
        "observed_at": datetime(2030, 1, 1, 0, 0, second, tzinfo=UTC), "started_at": datetime(2030, 1, 1, tzinfo=UTC),
        "ended_at": datetime(2030, 1, 1, 0, 0, second, tzinfo=UTC)}
    values.update(fields)
    return JobStatusObserved.model_validate(values)


def _sigkilled(job_id: object, backend_job_id: str, second: int) -> JobStatusObserved:
    return _observed(job_id, backend_job_id, DiracStatus.FAILED, second, minor_status="Killed by signal 9",
                     exit_code=137, error="killed by signal 9 (SIGKILL), which esap-batch did not send")


async def test_attempts_are_stored_read_back_and_shown(db: asyncpg.Pool) -> None:
    service = IngestService(lambda: PostgresUnitOfWork(db), CatalogueCache(30), CatalogMetrics(CollectorRegistry()),
                            on_commit=lambda: None)
    create = CreateJob(job_id=new_id(), owner="alice", workflow="hello-world", facility="local", run=True)
    job_id = create.job_id
    first = str(job_id)
    await service.apply([create])
    first_hash = await db.fetchval("SELECT callback_token_hash FROM jobs WHERE job_id = $1", job_id)
    await service.apply([JobSubmitted(job_id=job_id, facility="local", backend_job_id=first,
                                      status=DiracStatus.RUNNING, started_at=datetime(2030, 1, 1, tzinfo=UTC))])
    await service.apply([_sigkilled(job_id, first, 5)])

    row = await db.fetchrow("SELECT phase, attempt, backend_job_id, callback_token_hash FROM jobs WHERE job_id = $1",
                            job_id)
    assert (row["phase"], row["attempt"], row["backend_job_id"]) == ("QUEUED", 2, None)
    assert row["callback_token_hash"] != first_hash
    bodies = await db.fetch("SELECT convert_from(body, 'UTF8') AS body FROM outbox "
                            "WHERE message_type = 'SubmitJob' AND convert_from(body, 'UTF8') LIKE $1", f"%{job_id}%")
    assert sorted(json.loads(r["body"])["attempt"] for r in bodies) == [1, 2]

    # Read back by the next batch: the first attempt's late observation is ignored, the second one's ends the job.
    second = f"{job_id}_2"
    await service.apply([_sigkilled(job_id, first, 6)])
    assert await db.fetchval("SELECT attempt FROM jobs WHERE job_id = $1", job_id) == 2
    await service.apply([JobSubmitted(job_id=job_id, facility="local", backend_job_id=second, attempt=2),
                         _observed(job_id, second, DiracStatus.DONE, 9, results=())])

    view = await JobViewStore(db).job(job_id)
    assert view is not None and view.phase is Phase.COMPLETED and view.backend_job_id == second
    assert view.attempts == 2
    [past] = view.past_attempts
    assert (past.number, past.backend_job_id, past.failure_class) == (1, first, FailureClass.TRANSIENT)
    assert past.end_time == datetime(2030, 1, 1, 0, 0, 5, tzinfo=UTC) and "signal 9" in past.message
    details = [h.detail for h in view.history]
    assert any(d.startswith("attempt 2 of 3 after: killed by signal 9") for d in details)


async def test_the_failure_class_is_stored_with_the_error(db: asyncpg.Pool) -> None:
    service = IngestService(lambda: PostgresUnitOfWork(db), CatalogueCache(30), CatalogMetrics(CollectorRegistry()),
                            on_commit=lambda: None)
    create = CreateJob(job_id=new_id(), owner="alice", workflow="hello-world", facility="local", run=True)
    await service.apply([create])
    await service.apply([_observed(create.job_id, str(create.job_id), DiracStatus.FAILED, 5, exit_code=1,
                                   minor_status="Application Finished With Errors", error="exit code 1")])
    view = await JobViewStore(db).job(create.job_id)
    assert view is not None and view.phase is Phase.ERROR and view.attempts == 1 and view.past_attempts == []
    assert view.error is not None and view.error.type is ErrorType.FATAL
    assert view.error.failure_class is FailureClass.FATAL


async def test_a_facility_s_max_retries_is_stored(db: asyncpg.Pool) -> None:
    assert await db.fetchval("SELECT max_retries FROM facilities WHERE slug = 'local'") == 2

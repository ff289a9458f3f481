"""The backend's history of a job (DIRAC's logging info), carried by the monitor's observations, stored once per
entry on real RabbitMQ and PostgreSQL however often it arrives, and returned by the job read API."""

from datetime import UTC, datetime, timedelta
from uuid import UUID

import asyncpg

from esap_messages import (
    BackendHistoryEntry,
    CreateJob,
    DiracStatus,
    JobStatusObserved,
    JobSubmitted,
    StatusSource,
    new_id,
)
from esap_runtime.bus import Bus

from .conftest import GRACE, Catalog, eventually

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
LOG = (("Received", "Job accepted", "Unknown", "JobManager"), ("Matched", "Assigned", "Unknown", "Matcher"),
       ("Running", "Job Initialization", "Unknown", "JobWrapper"),
       ("Running", "Application", "Unknown", "JobWrapper"),
       ("Done", "Execution Complete", "Unknown", "JobWrapper"))


def logged(count: int) -> tuple[BackendHistoryEntry, ...]:
    return tuple(BackendHistoryEntry(status=s, minor_status=m, application_status=a, source=src,
                                     at=T0 + timedelta(seconds=i))
                 for i, (s, m, a, src) in enumerate(LOG[:count]))


def observed(job_id: UUID, status: DiracStatus, history: tuple[BackendHistoryEntry, ...]) -> JobStatusObserved:
    return JobStatusObserved(job_id=job_id, source=StatusSource.MONITOR, status=status, observed_at=history[-1].at,
                             minor_status=history[-1].minor_status, history=history)


async def consumed(catalog: Catalog, count: int) -> None:
    async def done() -> bool:
        return catalog.sample("catalog_messages_consumed_total", type="JobStatusObserved") >= count

    await eventually(done)


async def test_a_repeated_observation_stores_the_history_once(catalog: Catalog, bus: Bus, db: asyncpg.Pool) -> None:
    job_id = new_id()
    await bus.publish(CreateJob(job_id=job_id, owner="alice", workflow="hello-world", facility="local", run=True))
    await bus.publish(JobSubmitted(job_id=job_id, facility="local", backend_job_id="4242"))
    running = observed(job_id, DiracStatus.RUNNING, logged(3))
    done = observed(job_id, DiracStatus.DONE, logged(5))
    late = observed(job_id, DiracStatus.RUNNING, logged(4))  # after the final status: changes no phase
    for message in (running, running, observed(job_id, DiracStatus.RUNNING, logged(3)), done, done, late):
        await bus.publish(message)
    await consumed(catalog, 6)

    rows = await db.fetch("SELECT status, minor_status, source, status_time FROM job_backend_history "
                          "WHERE job_id = $1 ORDER BY status_time", job_id)
    assert [(r["status"], r["minor_status"], r["source"]) for r in rows] == [(s, m, src) for s, m, _, src in LOG]
    assert [r["status_time"] for r in rows] == [e.at for e in logged(5)]

    response = await catalog.http.get(f"/internal/jobs/{job_id}", params=GRACE)
    assert response.status_code == 200
    job = response.json()
    assert job["phase"] == "COMPLETED"
    assert [(e["status"], e["minor_status"], e["application_status"], e["source"])
            for e in job["backend_history"]] == list(LOG)
    assert [datetime.fromisoformat(e["at"]) for e in job["backend_history"]] == [e.at for e in logged(5)]
    assert [e["phase"] for e in job["history"]] == ["QUEUED", "EXECUTING", "COMPLETED"]


async def test_a_job_without_backend_history_reads_as_an_empty_list(catalog: Catalog, bus: Bus) -> None:
    job_id = new_id()
    await bus.publish(CreateJob(job_id=job_id, owner="alice", workflow="hello-world", facility="local", run=False))

    async def stored() -> bool:
        return (await catalog.http.get(f"/internal/jobs/{job_id}")).status_code == 200

    await eventually(stored)
    assert (await catalog.http.get(f"/internal/jobs/{job_id}")).json()["backend_history"] == []

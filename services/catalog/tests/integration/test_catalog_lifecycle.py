"""UWS lifecycle in the catalog against real PostgreSQL and RabbitMQ: updates and deletion by the owner only,
listings scoped to an owner with filters and a stable cursor, and the destruction sweeper (archive, delete,
one sweeper at a time)."""

import time
from datetime import timedelta
from typing import Any

import asyncpg

from esap_catalog.config import DestructionAction
from esap_catalog.storage.destruction import SWEEP_LOCK_KEY
from esap_messages import CreateJob, DeleteJob, JobPhaseChanged, Phase, UpdateJob, new_id, utcnow
from esap_runtime.bus import Bus

from .conftest import GRACE, Catalog, Collector, StartCatalog, eventually


def create(**fields: Any) -> CreateJob:
    values: dict[str, Any] = {"job_id": new_id(), "owner": "alice", "workflow": "hello-world", "facility": "local"}
    values.update(fields)
    return CreateJob.model_validate(values)


async def stored(catalog: Catalog, message: CreateJob) -> dict[str, Any]:
    response = await catalog.http.get(f"/internal/jobs/{message.job_id}", params=GRACE)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def test_only_the_owner_updates_or_deletes_a_job(catalog: Catalog, bus: Bus) -> None:
    message = create()
    await bus.publish(message)
    await stored(catalog, message)
    later = utcnow() + timedelta(days=30)
    await bus.publish(UpdateJob(job_id=message.job_id, owner="bob", execution_duration=5))
    await bus.publish(UpdateJob(job_id=message.job_id, owner="alice", parameters={"Parameter1": "x"},
                                execution_duration=9, destruction=later))

    async def updated() -> dict[str, Any] | None:
        job = await stored(catalog, message)
        return job if job["execution_duration"] == 9 else None

    job = await eventually(updated)
    assert job["parameters"] == {"Parameter1": "x"} and job["destruction"].startswith(later.date().isoformat())
    await bus.publish(DeleteJob(job_id=message.job_id, owner="bob"))
    await bus.publish(DeleteJob(job_id=message.job_id, owner="alice"))

    async def gone() -> bool:
        return (await catalog.http.get(f"/internal/jobs/{message.job_id}")).status_code == 404

    await eventually(gone)
    assert catalog.sample("catalog_events_ignored_total", reason="not_owner") == 2
    start = time.monotonic()  # a deleted job is not waited for as a job about to be stored would be
    assert (await catalog.http.get(f"/internal/jobs/{message.job_id}")).status_code == 404
    assert time.monotonic() - start < 1


async def test_listings_are_scoped_filtered_and_paged(catalog: Catalog, bus: Bus) -> None:
    alice = [create(run_id=f"r{i % 2}", workflow="noop" if i == 4 else "hello-world") for i in range(5)]
    others = [create(owner="bob"), create(owner=None)]
    for message in (*alice, *others):
        await bus.publish(message)
        await stored(catalog, message)

    async def ids(**params: Any) -> tuple[list[str], str | None]:
        body = (await catalog.http.get("/internal/jobs", params=params)).json()
        return [j["job_id"] for j in body["jobs"]], body["next_cursor"]

    assert (await ids(owner="alice"))[0] == [str(m.job_id) for m in reversed(alice)]
    assert (await ids(anonymous="true"))[0] == [str(others[1].job_id)]
    assert (await ids(owner="alice", run_id="r1"))[0] == [str(alice[3].job_id), str(alice[1].job_id)]
    assert (await ids(owner="alice", workflow="noop"))[0] == [str(alice[4].job_id)]
    assert (await ids(owner="bob", workflow="noop"))[0] == []
    pages: list[str] = []
    cursor: str | None = None
    while True:
        page, cursor = await ids(owner="alice", last=2, **({"cursor": cursor} if cursor else {}))
        pages.extend(page)
        if cursor is None:
            break
    assert pages == [str(m.job_id) for m in reversed(alice)]
    nonsense = await catalog.http.get("/internal/jobs", params={"cursor": "nonsense"})
    assert (nonsense.status_code, nonsense.content) == (400, b'{"detail":"not a cursor of this service: \'nonsense\'"}')
    foreign = await catalog.http.get(f"/internal/jobs/{alice[0].job_id}", params={"owner": "bob", "wait": 5})
    assert (foreign.status_code, foreign.json()) == (403, {"detail": f"job {alice[0].job_id} is not the caller's"})


async def test_the_sweeper_archives_jobs_past_their_destruction(catalog: Catalog, bus: Bus,
                                                                queues: dict[str, Collector]) -> None:
    past = utcnow() - timedelta(seconds=1)
    expired, running, kept = create(destruction=past), create(destruction=past, run=True), create()
    for message in (expired, running, kept):
        await bus.publish(message)
        await stored(catalog, message)
    assert await catalog.factory.sweeper.sweep() == 2
    assert (await stored(catalog, expired))["phase"] == "ARCHIVED"
    archived = await stored(catalog, running)
    assert archived["phase"] == "ARCHIVED" and archived["results"] == []
    assert [h["phase"] for h in archived["history"]] == ["QUEUED", "ARCHIVED"]
    assert (await stored(catalog, kept))["phase"] == "PENDING"
    listed = (await catalog.http.get("/internal/jobs", params={"owner": "alice"})).json()["jobs"]
    assert [j["job_id"] for j in listed] == [str(kept.job_id)]
    events = await queues["phases"].wait_for(JobPhaseChanged, 5)
    assert {e.job_id for e in events if e.phase is Phase.ARCHIVED} == {expired.job_id, running.job_id}
    assert await catalog.factory.sweeper.sweep() == 0


async def test_the_sweeper_deletes_when_told_to_and_runs_once_at_a_time(
        start_catalog: StartCatalog, bus: Bus, db: asyncpg.Pool) -> None:
    async with start_catalog(destruction_action=DestructionAction.DELETE) as catalog:
        message = create(destruction=utcnow() - timedelta(seconds=1))
        await bus.publish(message)
        await stored(catalog, message)
        async with db.acquire() as conn:
            assert await conn.fetchval("SELECT pg_try_advisory_lock($1)", SWEEP_LOCK_KEY)
            assert await catalog.factory.sweeper.sweep() is None
            await conn.fetchval("SELECT pg_advisory_unlock($1)", SWEEP_LOCK_KEY)
        assert await catalog.factory.sweeper.sweep() == 1
        assert (await catalog.http.get(f"/internal/jobs/{message.job_id}")).status_code == 404
        assert await db.fetchval("SELECT count(*) FROM jobs WHERE job_id = $1", message.job_id) == 0

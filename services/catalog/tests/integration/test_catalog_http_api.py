"""The catalog's internal HTTP API against real PostgreSQL and RabbitMQ: reads, listings, WAIT woken by
NOTIFY, and callback token verification."""

import asyncio
import time
from typing import Any

import asyncpg

from esap_messages import (
    CreateJob,
    DiracStatus,
    JobStatusObserved,
    JobSubmitted,
    RunJob,
    StatusSource,
    SubmitJob,
    new_id,
    utcnow,
)
from esap_messages.api import MAX_JOB_READS
from esap_runtime.bus import Bus

from .conftest import GRACE, Catalog, Collector, StartCatalog, eventually


def create(**fields: Any) -> CreateJob:
    values: dict[str, Any] = {"job_id": new_id(), "owner": "alice", "workflow": "sleep", "facility": "local"}
    values.update(fields)
    return CreateJob.model_validate(values)


async def queued_with_token(bus: Bus, queues: dict[str, Collector]) -> tuple[CreateJob, str]:
    message = create(run=True)
    await bus.publish(message)
    submits = await eventually(lambda: _submit_for(queues, message))
    return message, submits.callback_token.get_secret_value()


async def _submit_for(queues: dict[str, Collector], message: CreateJob) -> SubmitJob | None:
    return next((s for s in queues["submitter"].of(SubmitJob) if s.job_id == message.job_id), None)


async def verify(catalog: Catalog, job_id: object, token: str, final: bool = False) -> int:
    body = {"job_id": str(job_id), "token": token, "final": final}
    return (await catalog.http.post("/internal/callbacks/verify", json=body)).status_code


async def test_callback_verification(catalog: Catalog, bus: Bus, queues: dict[str, Collector]) -> None:
    job, token = await queued_with_token(bus, queues)
    other, other_token = await queued_with_token(bus, queues)
    response = await catalog.http.post("/internal/callbacks/verify", json={"job_id": str(job.job_id),
                                                                           "token": token})
    assert response.status_code == 200
    assert response.json() == {"job_id": str(job.job_id), "phase": "QUEUED", "dirac_status": None}
    await bus.publish(JobSubmitted(job_id=job.job_id, facility="local", backend_job_id="5", status=DiracStatus.RUNNING))

    async def running() -> bool:
        answer = await catalog.http.post("/internal/callbacks/verify", json={"job_id": str(job.job_id),
                                                                             "token": token})
        return answer.json() == {"job_id": str(job.job_id), "phase": "EXECUTING", "dirac_status": "Running"}

    await eventually(running)  # the gateway tells a report of what the catalog knows from news by it
    assert await verify(catalog, job.job_id, "x" * len(token)) == 403
    assert await verify(catalog, job.job_id, other_token) == 403
    assert await verify(catalog, new_id(), token) == 404
    unknown = await catalog.http.post("/internal/callbacks/verify", json={"job_id": str(new_id()), "token": token})
    assert unknown.content == b'{"detail":"no such job"}'
    refused = await catalog.http.post("/internal/callbacks/verify", json={"job_id": str(job.job_id),
                                                                              "token": "x" * len(token)})
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/json" and set(refused.json()) == {"detail"}
    assert await verify(catalog, job.job_id, token, final=True) == 200
    assert await verify(catalog, job.job_id, token, final=True) == 403  # consumed
    assert await verify(catalog, job.job_id, token) == 403
    await bus.publish(JobStatusObserved(job_id=other.job_id, source=StatusSource.MONITOR, status=DiracStatus.DONE,
                                        observed_at=utcnow()))

    async def completed() -> bool:
        return (await catalog.http.get(f"/internal/jobs/{other.job_id}")).json()["phase"] == "COMPLETED"

    await eventually(completed)
    assert await verify(catalog, other.job_id, other_token) == 403  # final
    late = await catalog.http.post("/internal/callbacks/verify-batch", json={"items": [
        {"job_id": str(other.job_id), "token": other_token, "final": True},
        {"job_id": str(other.job_id), "token": "y" * len(other_token), "final": True}]})
    # The right token after the end is told apart (the report came late); a wrong one is not.
    assert [(v["accepted"], v["ended"]) for v in late.json()["verdicts"]] == [(False, True), (False, False)]


async def test_a_verification_batch_answers_in_order_and_consumes_a_token_once(
    catalog: Catalog, bus: Bus, queues: dict[str, Collector]
) -> None:
    job, token = await queued_with_token(bus, queues)
    other, other_token = await queued_with_token(bus, queues)
    items = [
        {"job_id": str(job.job_id), "token": token, "final": False},
        {"job_id": str(job.job_id), "token": token, "final": True},
        {"job_id": str(job.job_id), "token": token, "final": True},  # a second final report in the same batch
        {"job_id": str(other.job_id), "token": token, "final": False},  # another job's token
        {"job_id": str(new_id()), "token": token, "final": False},
        {"job_id": str(other.job_id), "token": other_token, "final": False},
    ]

    response = await catalog.http.post("/internal/callbacks/verify-batch", json={"items": items})

    assert response.status_code == 200
    verdicts = response.json()["verdicts"]
    assert [v["accepted"] for v in verdicts] == [True, True, False, False, False, True]
    assert [v["job_id"] for v in verdicts] == [i["job_id"] for i in items]
    assert verdicts[4]["reason"] == "no such job"
    assert await verify(catalog, job.job_id, token) == 403  # consumed by the batch


async def test_get_right_after_publishing_finds_the_job(catalog: Catalog, bus: Bus) -> None:
    messages = [create() for _ in range(20)]
    for message in messages:
        await bus.publish(message)
    responses = await asyncio.gather(*(catalog.http.get(f"/internal/jobs/{m.job_id}", params=GRACE)
                                       for m in messages))
    assert [r.status_code for r in responses] == [200] * 20


async def test_a_fresh_id_never_stored_is_404_after_the_grace(start_catalog: StartCatalog) -> None:
    async with start_catalog(creation_grace_seconds=0.5) as catalog:
        start = time.monotonic()
        response = await catalog.http.get(f"/internal/jobs/{new_id()}", params=GRACE)
        assert response.status_code == 404 and 0.3 < time.monotonic() - start < 2


async def test_a_fresh_id_is_404_at_once_without_the_grace(catalog: Catalog) -> None:
    """A made-up id stamped "now" holds nothing unless the caller asks for the grace (the gateway does so only for
    a creation it sent): a flood of such reads cannot take the connections others need."""
    responses = await asyncio.wait_for(
        asyncio.gather(*(catalog.http.get(f"/internal/jobs/{new_id()}") for _ in range(50))), 2)
    assert [r.status_code for r in responses] == [404] * 50


async def test_an_unknown_job_is_404(catalog: Catalog) -> None:
    start = time.monotonic()
    response = await catalog.http.get("/internal/jobs/8d3f2a4e-9d7b-4f4e-8a41-1c2b3d4e5f60")
    assert response.status_code == 404 and time.monotonic() - start < 1


async def test_many_jobs_read_at_once_each_for_its_reader_in_request_order(catalog: Catalog, bus: Bus) -> None:
    alices, anonymous = create(), create(owner=None)
    for message in (alices, anonymous):
        await bus.publish(message)
    for message in (alices, anonymous):
        await catalog.http.get(f"/internal/jobs/{message.job_id}", params=GRACE)  # stored by now
    unknown = new_id()
    reads = [{"job_id": str(alices.job_id), "owner": "alice"}, {"job_id": str(unknown), "owner": "alice"},
             {"job_id": str(alices.job_id), "owner": "bob"}, {"job_id": str(anonymous.job_id), "owner": None},
             {"job_id": str(alices.job_id), "owner": None}, {"job_id": str(alices.job_id), "owner": "alice"}]

    response = await catalog.http.post("/internal/jobs/read-batch", json={"items": reads})

    assert response.status_code == 200
    outcomes = response.json()["outcomes"]
    assert [(o["job"]["job_id"] if o["job"] else None, o["foreign"]) for o in outcomes] == [
        (str(alices.job_id), False), (None, False), (None, True), (str(anonymous.job_id), False), (None, True),
        (str(alices.job_id), False)]
    assert outcomes[0]["job"] == (await catalog.http.get(f"/internal/jobs/{alices.job_id}")).json()


async def test_a_read_batch_beyond_its_limit_is_refused(catalog: Catalog) -> None:
    reads = [{"job_id": str(new_id()), "owner": "alice"} for _ in range(MAX_JOB_READS + 1)]
    response = await catalog.http.post("/internal/jobs/read-batch", json={"items": reads})
    assert response.status_code == 422


async def test_wait_returns_when_the_job_changes(catalog: Catalog, bus: Bus) -> None:
    message = create()
    await bus.publish(message)
    assert (await catalog.http.get(f"/internal/jobs/{message.job_id}", params=GRACE)).json()["phase"] == "PENDING"
    waiting = asyncio.create_task(catalog.http.get(f"/internal/jobs/{message.job_id}", params={"wait": 30}))
    await eventually(lambda: _waiters_at_least(catalog, 1))
    start = time.monotonic()
    await bus.publish(RunJob(job_id=message.job_id, owner="alice"))
    response = await asyncio.wait_for(waiting, 5)
    assert response.json()["phase"] == "QUEUED" and time.monotonic() - start < 2
    assert catalog.sample("catalog_waiters") == 0


async def _waiters_at_least(catalog: Catalog, count: int) -> bool:
    return catalog.sample("catalog_waiters") >= count


async def test_wait_returns_at_once_for_a_final_job_and_times_out_otherwise(catalog: Catalog, bus: Bus) -> None:
    broken = create(workflow="no-such-workflow")
    pending = create()
    await bus.publish(broken)
    await bus.publish(pending)
    start = time.monotonic()
    response = await catalog.http.get(f"/internal/jobs/{broken.job_id}", params={"wait": -1, **GRACE})
    assert response.json()["phase"] == "ERROR" and time.monotonic() - start < 1
    start = time.monotonic()
    response = await catalog.http.get(f"/internal/jobs/{pending.job_id}", params={"wait": 1, **GRACE})
    elapsed = time.monotonic() - start
    assert response.json()["phase"] == "PENDING" and 0.9 < elapsed < 3
    response = await catalog.http.get(f"/internal/jobs/{pending.job_id}", params={"wait": 30, "phase": "QUEUED"})
    assert response.json()["phase"] == "PENDING"  # not in the phase waited on: at once


async def test_wait_survives_a_lost_listen_connection(catalog: Catalog, bus: Bus, db: asyncpg.Pool) -> None:
    message = create()
    await bus.publish(message)
    await catalog.http.get(f"/internal/jobs/{message.job_id}", params=GRACE)
    waiting = asyncio.create_task(catalog.http.get(f"/internal/jobs/{message.job_id}", params={"wait": 30}))
    await eventually(lambda: _waiters_at_least(catalog, 1))
    killed = await db.fetchval(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
        "AND query LIKE 'LISTEN %'")
    assert killed
    await bus.publish(RunJob(job_id=message.job_id, owner="alice"))
    response = await asyncio.wait_for(waiting, 10)
    assert response.json()["phase"] == "QUEUED"

    async def healthy() -> bool:
        return (await catalog.http.get("/healthz")).status_code == 200

    await eventually(healthy)


async def test_listings(catalog: Catalog, bus: Bus) -> None:
    alice = [create(owner="alice") for _ in range(3)]
    bob = create(owner="bob", run=True)
    for message in (*alice, bob):
        await bus.publish(message)
        await catalog.http.get(f"/internal/jobs/{message.job_id}", params=GRACE)
    everyone = (await catalog.http.get("/internal/jobs")).json()["jobs"]
    assert [j["job_id"] for j in everyone] == [str(m.job_id) for m in (bob, *reversed(alice))]
    mine = (await catalog.http.get("/internal/jobs", params={"owner": "alice", "last": 2})).json()["jobs"]
    assert [j["job_id"] for j in mine] == [str(alice[2].job_id), str(alice[1].job_id)]
    queued = (await catalog.http.get("/internal/jobs", params=[("phase", "QUEUED"), ("phase", "ERROR")])).json()
    assert [j["job_id"] for j in queued["jobs"]] == [str(bob.job_id)]
    after = alice[1].occurred_at.isoformat()
    later = (await catalog.http.get("/internal/jobs", params={"after": after, "limit": 10})).json()["jobs"]
    assert {j["job_id"] for j in later} == {str(alice[2].job_id), str(bob.job_id)}


async def test_active_jobs_and_the_catalogue(catalog: Catalog, bus: Bus) -> None:
    message = create(run=True)
    await bus.publish(message)
    await bus.publish(JobSubmitted(job_id=message.job_id, facility="local", backend_job_id="77"))

    async def active() -> list[dict[str, Any]]:
        return list((await catalog.http.get("/internal/active-jobs")).json()["jobs"])

    [job] = await eventually(active)
    assert job == {"job_id": str(message.job_id), "facility": "local", "backend": "local",
                   "backend_job_id": "77", "phase": "QUEUED", "dirac_status": "Received"}
    workflows = (await catalog.http.get("/internal/workflows")).json()["workflows"]
    assert [w["slug"] for w in workflows] == ["concordia", "cta-mc-generation", "hello-world", "noop", "sleep", "table"]
    assert (await catalog.http.get("/internal/workflows/sleep")).json()["run"]["command"] == ["sleep", "{seconds}"]
    assert (await catalog.http.get("/internal/workflows/nope")).status_code == 404
    assert (await catalog.http.get("/internal/facilities/local")).json()["backend"] == "local"
    facilities = (await catalog.http.get("/internal/facilities")).json()["facilities"]
    assert [f["slug"] for f in facilities] == ["ctadirac", "local", "rosetta-inaf-oats"]
    health = await catalog.http.get("/healthz")
    assert health.json() == {"status": "ok", "checks": {"database": True, "listen": True, "bus": True}}
    metrics = (await catalog.http.get("/metrics")).text
    assert "catalog_outbox_lag_seconds_bucket" in metrics and "catalog_http_request_duration_seconds" in metrics

"""The catalog consuming its queue on real RabbitMQ and PostgreSQL: jobs made and moved, messages out through
the outbox, duplicates and stale events harmless, a poison message unable to hold back its batch."""

import asyncio
import hashlib
from datetime import timedelta
from typing import Any
from uuid import UUID

import aio_pika
import asyncpg

from esap_messages import (
    AbortJob,
    CreateJob,
    DiracStatus,
    JobPhaseChanged,
    JobStatusObserved,
    JobSubmitted,
    KillJob,
    Phase,
    ResultFile,
    StatusSource,
    SubmitJob,
    Topology,
    new_id,
    utcnow,
)
from esap_runtime.bus import Bus

from .conftest import GRACE, Catalog, Collector, StartCatalog, eventually


def create(**fields: Any) -> CreateJob:
    values: dict[str, Any] = {"job_id": new_id(), "owner": "alice", "workflow": "hello-world",
                              "facility": "local", "run": True}
    values.update(fields)
    return CreateJob.model_validate(values)


async def consumed(catalog: Catalog, kind: str, count: int) -> None:
    async def done() -> bool:
        return catalog.sample("catalog_messages_consumed_total", type=kind) >= count

    await eventually(done)


async def test_create_with_run_queues_the_job_and_hands_it_to_the_submitter(
        catalog: Catalog, bus: Bus, queues: dict[str, Collector], db: asyncpg.Pool) -> None:
    message = create(parameters={"Parameter1": "999"}, execution_duration=60, run_id="run-1")
    await bus.publish(message)
    response = await catalog.http.get(f"/internal/jobs/{message.job_id}", params=GRACE)
    assert response.status_code == 200
    job = response.json()
    assert job["phase"] == "QUEUED" and job["parameters"]["Parameter1"] == "999"
    assert job["parameters"]["Parameter3"] == "33" and job["run_id"] == "run-1"
    [submit] = await queues["submitter"].wait_for(SubmitJob)
    assert isinstance(submit, SubmitJob) and submit.job_id == message.job_id
    assert submit.workflow.slug == "hello-world" and submit.execution_duration == 60
    stored = await db.fetchval("SELECT callback_token_hash FROM jobs WHERE job_id = $1", message.job_id)
    assert stored == hashlib.sha256(submit.callback_token.get_secret_value().encode()).digest()
    [changed] = await queues["phases"].wait_for(JobPhaseChanged)
    assert changed.phase is Phase.QUEUED and changed.previous_phase is None and changed.job_id == message.job_id
    assert catalog.sample("catalog_jobs_created_total") == 1
    assert catalog.sample("catalog_phase_transitions_total", from_phase="none", to_phase="QUEUED") == 1

    async def outbox_drained() -> bool:  # rows are deleted once confirmed: moments after a consumer saw them
        return await db.fetchval("SELECT count(*) FROM outbox") == 0

    await eventually(outbox_drained, within=5)


async def test_duplicates_change_nothing(catalog: Catalog, bus: Bus, queues: dict[str, Collector],
                                         db: asyncpg.Pool) -> None:
    message = create()
    resent = create(job_id=message.job_id, parameters={"Parameter1": "changed"})
    await bus.publish(message)
    await bus.publish(message)  # the same message delivered twice
    await bus.publish(resent)  # a different message for the same change
    await bus.publish(AbortJob(job_id=message.job_id, owner="alice"))
    # The KillJob comes after anything the duplicates could have caused: outbox rows go out in order.
    await queues["submitter"].wait_for(KillJob)
    assert len(queues["submitter"].of(SubmitJob)) == 1
    assert len(queues["phases"].of(JobPhaseChanged)) == 1
    job = (await catalog.http.get(f"/internal/jobs/{message.job_id}", params=GRACE)).json()
    assert job["parameters"]["Parameter1"] == "1" and len(job["history"]) == 1
    assert await db.fetchval("SELECT count(*) FROM inbox") == 3
    assert catalog.sample("catalog_events_ignored_total", reason="duplicate") == 1


async def test_a_stale_observation_leaves_a_completed_job_completed(
        catalog: Catalog, bus: Bus, queues: dict[str, Collector]) -> None:
    message = create()
    job_id = message.job_id
    t0 = utcnow()
    result = ResultFile(name="helloworld.json", size=42, mime_type="application/json", location="file:///r")

    def observed(status: DiracStatus, seconds: int, **fields: Any) -> JobStatusObserved:
        return JobStatusObserved(job_id=job_id, source=StatusSource.MONITOR, status=status,
                                 observed_at=t0 + timedelta(seconds=seconds), **fields)

    for event in (message, JobSubmitted(job_id=job_id, facility="local", backend_job_id="4711"),
                  observed(DiracStatus.RUNNING, 1), observed(DiracStatus.DONE, 3, results=(result,)),
                  observed(DiracStatus.RUNNING, 2)):
        await bus.publish(event)
    await consumed(catalog, "JobStatusObserved", 3)
    job = (await catalog.http.get(f"/internal/jobs/{job_id}", params=GRACE)).json()
    assert job["phase"] == "COMPLETED" and job["dirac"]["status"] == "Done" and job["backend_job_id"] == "4711"
    assert [h["phase"] for h in job["history"]] == ["QUEUED", "EXECUTING", "COMPLETED"]
    assert job["results"] == [{"id": "helloworld.json", "size": 42, "mime_type": "application/json",
                               "location": "file:///r"}]
    assert job["end_time"] is not None and job["start_time"] is not None
    phases = [m.phase for m in await queues["phases"].wait_for(JobPhaseChanged, 3)]
    assert phases == [Phase.QUEUED, Phase.EXECUTING, Phase.COMPLETED]
    assert catalog.sample("catalog_events_ignored_total", reason="final") == 1


async def test_a_poison_message_does_not_hold_back_its_batch(
        start_catalog: StartCatalog, bus: Bus, amqp_url: str, bus_namespace: str, db: asyncpg.Pool) -> None:
    good = [create() for _ in range(3)]
    unknown = create(workflow="no-such-workflow")
    poison = create(parameters={"Parameter1": "\u0000"})  # PostgreSQL cannot store a NUL character
    stranger = JobSubmitted(job_id=new_id(), facility="local", backend_job_id="1")
    # Queued before the catalog starts, so that its first batch holds them all.
    for message in (good[0], poison, good[1], unknown, stranger, good[2]):
        await bus.publish(message)
    async with start_catalog() as catalog:
        await consumed(catalog, "CreateJob", 4)
        phases = dict(await db.fetch("SELECT job_id, phase FROM jobs"))
        assert phases == {**{m.job_id: "QUEUED" for m in good}, unknown.job_id: "ERROR"}
        error = (await catalog.http.get(f"/internal/jobs/{unknown.job_id}", params=GRACE)).json()["error"]
        assert error == {"type": "fatal", "message": "unknown workflow 'no-such-workflow'", "failure_class": "usage"}
        assert catalog.sample("catalog_events_ignored_total", reason="unknown_job") == 1
        assert catalog.sample("catalog_messages_dead_lettered_total", type="CreateJob") == 1
    dead = await dead_letters(amqp_url, bus_namespace)
    assert dead == [poison.message_id]


async def dead_letters(amqp_url: str, namespace: str) -> list[UUID]:
    async with asyncio.timeout(30):  # a broker that stops answering fails here, not at the suite's timeout
        connection = await aio_pika.connect(amqp_url, timeout=10)
        try:
            queue = await (await connection.channel()).get_queue(Topology(namespace).catalog.dead)
            ids = []
            while (raw := await queue.get(no_ack=True, fail=False, timeout=10)) is not None:
                ids.append(UUID(raw.message_id))
            return ids
        finally:
            await connection.close()

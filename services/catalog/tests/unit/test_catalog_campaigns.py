"""Campaigns on the fake unit of work: a CreateCampaign makes the parent and every child in one transaction and
none twice; the parent's phase sums up its children's; RUN, ABORT and DELETE on the parent reach every child."""

from uuid import UUID

from esap_catalog.domain.campaigns import child_id, summary_phase
from esap_catalog.domain.model import Job
from esap_messages import (
    AbortJob,
    CreateCampaign,
    DeleteJob,
    DiracStatus,
    JobStatusObserved,
    JobSubmitted,
    Phase,
    RunJob,
    StatusSource,
    SubmitJob,
    UpdateJob,
    new_id,
)

from .catalog_fakes import at, job_in, make_env
from .test_catalog_ingest_rules import Ingest


def campaign(n: int = 3, **fields: object) -> CreateCampaign:
    values: dict[str, object] = {"job_id": new_id(), "owner": "alice", "workflow": "hello-world",
                                 "facility": "local", "occurred_at": at(0), "parameters": {"greeting": "hi"},
                                 "children": [{"Parameter2": f"n{i}"} for i in range(n)]}
    values.update(fields)
    return CreateCampaign.model_validate(values)


def children(ingest: Ingest, parent: UUID) -> list[Job]:
    return sorted((j for j in ingest.database.jobs.values() if j.parent_id == parent), key=lambda j: j.creation_time)


async def ended(ingest: Ingest, job: Job, status: DiracStatus, seconds: float = 10) -> None:
    await ingest.apply(JobSubmitted(job_id=job.job_id, facility=job.facility, backend_job_id=f"b-{job.job_id}"),
                       JobStatusObserved(job_id=job.job_id, source=StatusSource.MONITOR, status=status,
                                         observed_at=at(seconds), started_at=at(1), ended_at=at(seconds)))


async def test_a_campaign_makes_its_parent_and_every_child_once() -> None:
    ingest = Ingest()
    made = campaign(3, run=True)
    await ingest.apply(made)
    parent = ingest.database.jobs[made.job_id]
    kids = children(ingest, made.job_id)
    assert parent.children == 3 and parent.phase is Phase.QUEUED and parent.parent_id is None
    assert "Parameter1" in parent.parameters and "Parameter2" not in parent.parameters  # swept: each child's
    assert [k.job_id for k in kids] == [child_id(made.job_id, i) for i in range(3)]
    assert [k.swept for k in kids] == [{"Parameter2": "n0"}, {"Parameter2": "n1"}, {"Parameter2": "n2"}]
    assert all(k.parameters["greeting"] == "hi" and k.parameters["Parameter2"] == k.swept["Parameter2"]  # type: ignore[index]
               for k in kids)
    assert all(k.phase is Phase.QUEUED for k in kids)
    submitted = [m for m in ingest.database.outbox if isinstance(m, SubmitJob)]
    assert sorted(m.job_id for m in submitted) == sorted(k.job_id for k in kids)  # the parent is not submitted
    assert ingest.settled[-1].job_id == made.job_id and ingest.settled[-1].applied

    before = ingest.database.tables()
    await ingest.apply(made.model_copy(update={"message_id": new_id()}))  # replayed under another message id
    assert ingest.database.tables()["jobs"] == before["jobs"]
    assert len([m for m in ingest.database.outbox if isinstance(m, SubmitJob)]) == 3


async def test_the_parent_runs_and_ends_with_its_children() -> None:
    ingest = Ingest()
    made = campaign(3)
    await ingest.apply(made)
    assert ingest.database.jobs[made.job_id].phase is Phase.PENDING
    await ingest.apply(RunJob(job_id=made.job_id, owner="alice"))
    assert ingest.database.jobs[made.job_id].phase is Phase.QUEUED
    assert ingest.settled[-1].phase is Phase.QUEUED  # the 303 the gateway answers shows the change
    first, second, third = children(ingest, made.job_id)
    await ended(ingest, first, DiracStatus.DONE)
    assert ingest.database.jobs[made.job_id].phase is Phase.EXECUTING
    await ended(ingest, second, DiracStatus.DONE)
    await ended(ingest, third, DiracStatus.DONE)
    parent = ingest.database.jobs[made.job_id]
    assert parent.phase is Phase.COMPLETED and parent.end_time is not None
    phases = [e.phase for e in ingest.database.history if e.job_id == made.job_id]
    assert phases == [Phase.PENDING, Phase.QUEUED, Phase.EXECUTING, Phase.COMPLETED]


async def test_one_failed_child_makes_the_parent_error_once_all_ended() -> None:
    ingest = Ingest()
    made = campaign(2, run=True)
    await ingest.apply(made)
    good, bad = children(ingest, made.job_id)
    await ended(ingest, bad, DiracStatus.FAILED)
    assert ingest.database.jobs[made.job_id].phase is Phase.EXECUTING
    await ended(ingest, good, DiracStatus.DONE)
    parent = ingest.database.jobs[made.job_id]
    assert parent.phase is Phase.ERROR and parent.error is not None and "1 of 2" in parent.error.message


async def test_abort_of_the_parent_reaches_every_child() -> None:
    ingest = Ingest()
    made = campaign(3, run=True)
    await ingest.apply(made)
    first, _, _ = children(ingest, made.job_id)
    await ended(ingest, first, DiracStatus.DONE)
    await ingest.apply(AbortJob(job_id=made.job_id, owner="alice"))
    kids = children(ingest, made.job_id)
    assert [k.phase for k in kids] == [Phase.COMPLETED, Phase.QUEUED, Phase.QUEUED]
    assert all(k.abort_requested_at is not None for k in kids[1:])  # kills asked for, not yet confirmed
    assert ingest.database.jobs[made.job_id].phase is Phase.EXECUTING
    for kid in kids[1:]:
        await ended(ingest, kid, DiracStatus.KILLED)
    assert ingest.database.jobs[made.job_id].phase is Phase.ABORTED


async def test_abort_of_a_pending_campaign_ends_it_at_once_and_another_owner_reaches_no_child() -> None:
    ingest = Ingest()
    made = campaign(2)
    await ingest.apply(made)
    await ingest.apply(AbortJob(job_id=made.job_id, owner="mallory"), RunJob(job_id=made.job_id, owner="mallory"))
    assert {k.phase for k in children(ingest, made.job_id)} == {Phase.PENDING}
    await ingest.apply(AbortJob(job_id=made.job_id, owner="alice"))
    assert {k.phase for k in children(ingest, made.job_id)} == {Phase.ABORTED}
    assert ingest.database.jobs[made.job_id].phase is Phase.ABORTED


async def test_delete_of_the_parent_removes_every_child() -> None:
    ingest = Ingest()
    made = campaign(3, run=True)
    await ingest.apply(made)
    kids = children(ingest, made.job_id)
    await ingest.apply(DeleteJob(job_id=made.job_id, owner="alice"))
    assert not ingest.database.jobs
    assert ingest.database.tombstones == {made.job_id, *(k.job_id for k in kids)}


async def test_a_destruction_set_on_the_parent_is_set_on_every_child() -> None:
    ingest = Ingest()
    made = campaign(2)
    await ingest.apply(made)
    await ingest.apply(UpdateJob(job_id=made.job_id, owner="alice", destruction=at(5000), parameters={"x": "1"}))
    assert ingest.database.jobs[made.job_id].destruction != at(5000)  # parameters are not a campaign's to change
    await ingest.apply(UpdateJob(job_id=made.job_id, owner="alice", destruction=at(5000)))
    assert {j.destruction for j in ingest.database.jobs.values()} == {at(5000)}


def test_the_summary_of_children_phases() -> None:
    parent = job_in(Phase.QUEUED, make_env())
    assert summary_phase(parent, {Phase.PENDING: 3}) is Phase.PENDING
    assert summary_phase(parent, {Phase.QUEUED: 3}) is Phase.QUEUED
    assert summary_phase(parent, {Phase.QUEUED: 2, Phase.EXECUTING: 1}) is Phase.EXECUTING
    assert summary_phase(parent, {Phase.QUEUED: 2, Phase.COMPLETED: 1}) is Phase.EXECUTING
    assert summary_phase(parent, {Phase.COMPLETED: 3}) is Phase.COMPLETED
    assert summary_phase(parent, {Phase.COMPLETED: 2, Phase.ERROR: 1}) is Phase.ERROR
    assert summary_phase(parent, {Phase.COMPLETED: 2, Phase.ABORTED: 1}) is Phase.ABORTED


async def test_children_that_ran_and_ended_between_two_looks_still_show_the_parent_executing() -> None:
    ingest = Ingest()
    made = campaign(2, run=True)
    await ingest.apply(made)
    kids = children(ingest, made.job_id)
    await ingest.apply(*(m for kid in kids for m in (
        JobSubmitted(job_id=kid.job_id, facility="local", backend_job_id=f"b-{kid.job_id}"),
        JobStatusObserved(job_id=kid.job_id, source=StatusSource.MONITOR, status=DiracStatus.DONE,
                          observed_at=at(9), started_at=at(1), ended_at=at(9)))))
    phases = [e.phase for e in ingest.database.history if e.job_id == made.job_id]
    assert phases == [Phase.QUEUED, Phase.EXECUTING, Phase.COMPLETED]


async def test_a_child_retried_after_a_transient_failure_keeps_the_campaign_executing() -> None:
    ingest = Ingest()
    made = campaign(1, run=True)
    await ingest.apply(made)
    [kid] = children(ingest, made.job_id)
    await ingest.apply(
        JobSubmitted(job_id=kid.job_id, facility="local", backend_job_id="b1"),
        JobStatusObserved(job_id=kid.job_id, source=StatusSource.MONITOR, status=DiracStatus.RUNNING,
                          observed_at=at(5), started_at=at(5), backend_job_id="b1"))
    assert ingest.database.jobs[made.job_id].phase is Phase.EXECUTING
    await ingest.apply(JobStatusObserved(
        job_id=kid.job_id, source=StatusSource.MONITOR, status=DiracStatus.FAILED, observed_at=at(9),
        started_at=at(5), ended_at=at(9), backend_job_id="b1", minor_status="Killed by signal 9", exit_code=137,
        error="killed by signal 9 (SIGKILL), which esap-batch did not send"))
    [kid] = children(ingest, made.job_id)
    assert (kid.phase, kid.attempt) == (Phase.QUEUED, 2)
    assert ingest.database.jobs[made.job_id].phase is Phase.EXECUTING

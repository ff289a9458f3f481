"""Folding a batch over the state machine: order, one write per job, effects kept in order."""

from datetime import UTC, datetime

from esap_catalog.domain.batch import decide
from esap_catalog.domain.model import FacilitySpec, WorkflowSpec
from esap_catalog.domain.state_machine import Env
from esap_messages import (
    AbortJob,
    CommandRefusal,
    CreateJob,
    DeleteJob,
    JobPhaseChanged,
    JobSubmitted,
    KillJob,
    Phase,
    RunJob,
    SubmitJob,
    WorkflowRun,
    new_id,
)

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ENV = Env(now=NOW, new_token=lambda: "t" * 43,
          workflows={"noop": WorkflowSpec("noop", WorkflowRun(slug="noop", command=("true",)), {}, ())},
          facilities={"local": FacilitySpec("local", "local", "local")})


def test_messages_for_a_new_job_in_one_batch_make_one_insert_in_its_last_state() -> None:
    job_id = new_id()
    batch = [CreateJob(job_id=job_id, workflow="noop", facility="local"), RunJob(job_id=job_id),
             AbortJob(job_id=job_id)]
    outcome = decide(batch, {}, ENV)
    assert list(outcome.created) == [job_id] and not outcome.updated
    assert outcome.created[job_id].phase is Phase.QUEUED
    assert outcome.created[job_id].abort_requested_at is not None
    assert [(h.previous_phase, h.phase) for h in outcome.history] == [(None, Phase.PENDING),
                                                                       (Phase.PENDING, Phase.QUEUED)]
    assert [type(m) for m in outcome.outbox] == [JobPhaseChanged, SubmitJob, JobPhaseChanged, KillJob]
    assert outcome.changed_ids == [job_id]


def test_existing_jobs_are_updated_and_unknown_ones_ignored() -> None:
    created = decide([CreateJob(job_id=new_id(), workflow="noop", facility="local", run=True)], {}, ENV)
    [job] = created.created.values()
    stranger = new_id()
    outcome = decide([JobSubmitted(job_id=job.job_id, facility="local", backend_job_id="1"),
                      JobSubmitted(job_id=stranger, facility="local", backend_job_id="2")],
                     {job.job_id: job}, ENV)
    assert list(outcome.updated) == [job.job_id] and not outcome.created
    assert outcome.updated[job.job_id].backend_job_id == "1"
    assert [(i.message.job_id, i.reason) for i in outcome.ignored] == [(stranger, "unknown_job")]  # type: ignore[attr-defined]


def test_every_client_command_is_settled_applied_or_refused_with_why_and_the_phase_after() -> None:
    job_id, stranger = new_id(), new_id()
    create = CreateJob(job_id=job_id, workflow="noop", facility="local", owner="alice")
    run = RunJob(job_id=job_id, owner="alice")
    run_again = RunJob(job_id=job_id, owner="alice")  # no longer PENDING
    foreign = AbortJob(job_id=job_id, owner="bob")
    unknown = DeleteJob(job_id=stranger, owner="alice")
    observed = JobSubmitted(job_id=job_id, facility="local", backend_job_id="1")  # not a client's command

    outcome = decide([create, run, run_again, foreign, unknown, observed], {}, ENV)

    assert [(s.command_id, s.command, s.applied, s.refusal, s.phase) for s in outcome.settled] == [
        (create.message_id, "CreateJob", True, None, Phase.QUEUED),
        (run.message_id, "RunJob", True, None, Phase.QUEUED),
        (run_again.message_id, "RunJob", False, CommandRefusal.NOT_APPLICABLE, Phase.QUEUED),
        (foreign.message_id, "AbortJob", False, CommandRefusal.NOT_OWNER, Phase.QUEUED),
        (unknown.message_id, "DeleteJob", False, CommandRefusal.UNKNOWN_JOB, None),
    ]


def test_a_deleted_job_s_settlement_has_no_phase_and_a_repeated_command_counts_as_applied() -> None:
    created = decide([CreateJob(job_id=new_id(), workflow="noop", facility="local")], {}, ENV)
    [job] = created.created.values()
    delete = DeleteJob(job_id=job.job_id)

    outcome = decide([delete], {job.job_id: job}, ENV)
    repeated = decide([CreateJob(job_id=job.job_id, workflow="noop", facility="local")], {job.job_id: job}, ENV)

    assert [(s.applied, s.phase) for s in outcome.settled] == [(True, None)]
    assert [(s.applied, s.refusal, s.phase) for s in repeated.settled] == [(True, None, Phase.PENDING)]

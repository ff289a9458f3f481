"""The catalog's state machine over in-memory jobs: creation, run, abort, and the submitter's events."""

import hashlib
from dataclasses import replace

import pytest

from esap_catalog.domain.state_machine import Env, apply
from esap_messages import (
    AbortJob,
    DiracStatus,
    ErrorType,
    JobKillFailed,
    JobPhaseChanged,
    JobSubmissionFailed,
    JobSubmitted,
    KillJob,
    Phase,
    RunJob,
    SubmitJob,
    new_id,
)

from .catalog_fakes import HELLO, assert_ignored, at, create, job_in, make_env, only


@pytest.fixture
def env() -> Env:
    return make_env()


# --- CreateJob --------------------------------------------------------------------------------------------------

def test_create_makes_a_pending_job_with_defaults_overlaid(env: Env) -> None:
    message = create(parameters={"Parameter2": "22", "Extra": "x"}, run_id="r1", execution_duration=30)
    decision = apply(None, message, env)
    job = decision.job
    assert job is not None and decision.created and decision.changed
    assert job.phase is Phase.PENDING and job.backend == "local" and job.run_id == "r1"
    assert dict(job.parameters) == {"Parameter1": "1", "Parameter2": "22", "Extra": "x"}
    assert job.creation_time == at(0) and job.callback_token_hash is None
    assert [(h.previous_phase, h.phase, h.source) for h in decision.history] == [(None, Phase.PENDING, "gateway")]
    [event] = decision.outbox
    assert isinstance(event, JobPhaseChanged) and event.phase is Phase.PENDING and event.previous_phase is None


def test_create_with_run_queues_at_once_with_a_hashed_token(env: Env) -> None:
    decision = apply(None, create(run=True, execution_duration=120, parameters={"Parameter1": "9"}), env)
    job = decision.job
    assert job is not None and job.phase is Phase.QUEUED
    [submit] = only(decision.outbox, SubmitJob)
    [event] = only(decision.outbox, JobPhaseChanged)
    token = submit.callback_token.get_secret_value()
    assert job.callback_token_hash == hashlib.sha256(token.encode()).digest()
    assert submit.workflow == HELLO.run and submit.backend == "local" and submit.execution_duration == 120
    assert submit.parameters == {"Parameter1": "9", "Parameter2": "2"}
    assert event.phase is Phase.QUEUED and event.previous_phase is None
    assert [(h.previous_phase, h.phase) for h in decision.history] == [(None, Phase.QUEUED)]


def test_a_second_create_for_the_same_job_changes_nothing(env: Env) -> None:
    first = apply(None, create(run=True), env)
    assert first.job is not None
    again = apply(first.job, create(first.job.job_id, run=True, parameters={"Parameter1": "other"}), env)
    assert_ignored(again, "duplicate")
    assert again.job == first.job


@pytest.mark.parametrize(("fields", "why"), [
    ({"workflow": "nope"}, "unknown workflow 'nope'"),
    ({"facility": "mars"}, "unknown facility 'mars'"),
    ({"workflow": "sleep", "facility": "ctadirac"}, "does not run on facilities of type 'dirac'"),
])
def test_create_for_an_unknown_workflow_or_facility_keeps_the_job_in_error(
        env: Env, fields: dict[str, str], why: str) -> None:
    decision = apply(None, create(run=True, **fields), env)
    job = decision.job
    assert job is not None and decision.created and job.phase is Phase.ERROR
    assert job.error is not None and job.error.type is ErrorType.FATAL and why in job.error.message
    assert job.end_time == at(0) and job.callback_token_hash is None
    assert not only(decision.outbox, SubmitJob)
    [event] = only(decision.outbox, JobPhaseChanged)
    assert event.phase is Phase.ERROR


# --- RunJob / AbortJob ------------------------------------------------------------------------------------------

def test_run_queues_a_pending_job(env: Env) -> None:
    job = job_in(Phase.PENDING, env)
    decision = apply(job, RunJob(job_id=job.job_id, owner="alice"), env)
    assert decision.job is not None and decision.job.phase is Phase.QUEUED
    assert decision.job.callback_token_hash is not None
    assert len(only(decision.outbox, SubmitJob)) == 1
    assert [(h.previous_phase, h.phase) for h in decision.history] == [(Phase.PENDING, Phase.QUEUED)]


@pytest.mark.parametrize("phase", [Phase.QUEUED, Phase.EXECUTING, Phase.COMPLETED, Phase.ABORTED])
def test_run_of_a_job_that_is_not_pending_changes_nothing(env: Env, phase: Phase) -> None:
    job = job_in(phase, env)
    assert_ignored(apply(job, RunJob(job_id=job.job_id, owner="alice"), env), "not_applicable")


def test_commands_naming_another_owner_change_nothing(env: Env) -> None:
    job = job_in(Phase.PENDING, env)
    assert_ignored(apply(job, RunJob(job_id=job.job_id, owner="mallory"), env), "not_owner")
    assert_ignored(apply(job, AbortJob(job_id=job.job_id, owner="mallory"), env), "not_owner")
    assert_ignored(apply(job, AbortJob(job_id=job.job_id, owner=None), env), "not_owner")


def test_events_for_an_unknown_job_are_ignored(env: Env) -> None:
    for message in (RunJob(job_id=new_id()), AbortJob(job_id=new_id()),
                    JobSubmitted(job_id=new_id(), facility="local", backend_job_id="1"),
                    JobKillFailed(job_id=new_id(), message="no")):
        decision = apply(None, message, env)
        assert decision.ignored == "unknown_job" and decision.job is None and not decision.outbox


def test_abort_of_a_pending_job_ends_it(env: Env) -> None:
    job = job_in(Phase.PENDING, env)
    decision = apply(job, AbortJob(job_id=job.job_id, owner="alice", occurred_at=at(5)), env)
    assert decision.job is not None and decision.job.phase is Phase.ABORTED and decision.job.end_time == at(5)
    assert not only(decision.outbox, KillJob)
    [event] = only(decision.outbox, JobPhaseChanged)
    assert (event.previous_phase, event.phase) == (Phase.PENDING, Phase.ABORTED)


@pytest.mark.parametrize(("phase", "backend_job_id"), [(Phase.QUEUED, None), (Phase.EXECUTING, "42")])
def test_abort_of_a_running_job_asks_for_a_kill(env: Env, phase: Phase, backend_job_id: str | None) -> None:
    job = job_in(phase, env, backend_job_id=backend_job_id)
    decision = apply(job, AbortJob(job_id=job.job_id, owner="alice", occurred_at=at(5)), env)
    assert decision.job is not None and decision.job.phase is phase and decision.changed
    assert decision.job.abort_requested_at == at(5) and not decision.history
    [kill] = decision.outbox
    assert isinstance(kill, KillJob) and kill.backend_job_id == backend_job_id and kill.backend == "local"


@pytest.mark.parametrize("phase", [Phase.COMPLETED, Phase.ERROR, Phase.ABORTED])
def test_abort_of_a_final_job_changes_nothing(env: Env, phase: Phase) -> None:
    job = job_in(phase, env)
    assert_ignored(apply(job, AbortJob(job_id=job.job_id, owner="alice"), env), "final")


# --- Submitter events -------------------------------------------------------------------------------------------

def test_submitted_records_the_backend_id_without_a_phase_change(env: Env) -> None:
    job = job_in(Phase.QUEUED, env)
    message = JobSubmitted(job_id=job.job_id, facility="local", backend_job_id="1234", occurred_at=at(3))
    decision = apply(job, message, env)
    assert decision.job is not None and decision.changed and not decision.history and not decision.outbox
    assert decision.job.backend_job_id == "1234" and decision.job.phase is Phase.QUEUED
    assert decision.job.dirac.status is DiracStatus.RECEIVED
    assert_ignored(apply(decision.job, message, env), "duplicate")


def test_submitted_as_started_moves_the_job_to_executing_with_its_start_time(env: Env) -> None:
    job = job_in(Phase.QUEUED, env)
    message = JobSubmitted(job_id=job.job_id, facility="local", backend_job_id="42", status=DiracStatus.RUNNING,
                           started_at=at(2), occurred_at=at(3))
    decision = apply(job, message, env)
    new = decision.job
    assert new is not None and new.phase is Phase.EXECUTING and new.start_time == at(2)
    assert new.backend_job_id == "42" and new.dirac.status is DiracStatus.RUNNING
    assert [(h.previous_phase, h.phase, h.source) for h in decision.history] == [
        (Phase.QUEUED, Phase.EXECUTING, "submitter")]
    [event] = only(decision.outbox, JobPhaseChanged)
    assert event.phase is Phase.EXECUTING and event.backend_job_id == "42"
    assert_ignored(apply(new, message, env), "duplicate")


def test_submitted_as_started_after_an_abort_asks_for_a_kill_and_does_not_execute(env: Env) -> None:
    job = job_in(Phase.QUEUED, env, abort_requested_at=at(1))
    message = JobSubmitted(job_id=job.job_id, facility="local", backend_job_id="42", status=DiracStatus.RUNNING)
    decision = apply(job, message, env)
    assert decision.job is not None and decision.job.phase is Phase.QUEUED
    [kill] = decision.outbox
    assert isinstance(kill, KillJob) and kill.backend_job_id == "42"


def test_submitted_does_not_overwrite_a_newer_status(env: Env) -> None:
    job = job_in(Phase.EXECUTING, env)
    job = replace(job, dirac=replace(job.dirac, status=DiracStatus.RUNNING, observed_at=at(4)))
    decision = apply(job, JobSubmitted(job_id=job.job_id, facility="local", backend_job_id="7"), env)
    assert decision.job is not None and decision.job.dirac.status is DiracStatus.RUNNING
    assert decision.job.backend_job_id == "7"


@pytest.mark.parametrize("aborted", ["phase", "requested"])
def test_submitted_after_an_abort_asks_for_a_kill_again(env: Env, aborted: str) -> None:
    job = (job_in(Phase.ABORTED, env) if aborted == "phase"
           else job_in(Phase.QUEUED, env, abort_requested_at=at(1)))
    decision = apply(job, JobSubmitted(job_id=job.job_id, facility="local", backend_job_id="99"), env)
    [kill] = decision.outbox
    assert isinstance(kill, KillJob) and kill.backend_job_id == "99"
    assert decision.job is not None and decision.job.phase is job.phase


def test_submission_failure_ends_the_job_in_error(env: Env) -> None:
    job = job_in(Phase.QUEUED, env, callback_token_hash=b"h" * 32)
    message = JobSubmissionFailed(job_id=job.job_id, facility="local", message="no such executable",
                                  occurred_at=at(2))
    decision = apply(job, message, env)
    new = decision.job
    assert new is not None and new.phase is Phase.ERROR and new.end_time == at(2)
    assert new.error is not None and new.error.message == "no such executable"
    assert new.error.type is ErrorType.FATAL
    assert new.callback_token_hash == b"h" * 32  # kept, so a late report is told from a forged one; ERROR refuses it
    assert [h.source for h in decision.history] == ["submitter"]
    assert_ignored(apply(new, message, env), "final")


def test_kill_failure_keeps_the_phase_and_says_why(env: Env) -> None:
    job = job_in(Phase.EXECUTING, env, abort_requested_at=at(1))
    decision = apply(job, JobKillFailed(job_id=job.job_id, message="the backend refused"), env)
    new = decision.job
    assert new is not None and new.phase is Phase.EXECUTING and new.abort_requested_at is None
    assert new.error is not None and new.error.type is ErrorType.TRANSIENT and not decision.outbox
    assert_ignored(apply(job_in(Phase.ABORTED, env), JobKillFailed(job_id=job.job_id, message="x"), env),
                   "final")

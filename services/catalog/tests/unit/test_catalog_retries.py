"""Automatic retries in the catalog's state machine: a transient failure sends the job back to QUEUED as its next
attempt (a new SubmitJob, a new token), until the facility's retries run out; anything else ends it; an aborted job
is never retried; what is seen of an earlier attempt is ignored."""

from dataclasses import replace

import pytest

from esap_catalog.domain.model import FacilitySpec, Job
from esap_catalog.domain.state_machine import Env, apply
from esap_catalog.domain.transitions import token_hash
from esap_messages import (
    AbortJob,
    DiracStatus,
    ErrorType,
    FailureClass,
    JobPhaseChanged,
    JobSubmissionFailed,
    JobSubmitted,
    Phase,
    SubmitJob,
)

from .catalog_fakes import assert_ignored, at, job_in, make_env, observed, only

SIGKILLED = {"minor_status": "Killed by signal 9", "exit_code": 137,
             "error": "killed by signal 9 (SIGKILL), which esap-batch did not send"}


@pytest.fixture
def env() -> Env:
    return make_env()


def running(env: Env, **fields: object) -> Job:
    job = job_in(Phase.EXECUTING, env, backend_job_id="b1", start_time=at(5), **fields)
    return replace(job, dirac=replace(job.dirac, status=DiracStatus.RUNNING, observed_at=at(5)))


def killed(job: Job, seconds: float = 20, **fields: object) -> object:
    values = {**SIGKILLED, "ended_at": at(seconds - 1), "started_at": at(5), **fields}
    return observed(job, DiracStatus.FAILED, seconds, **values)


def test_a_transient_failure_queues_the_next_attempt_with_a_new_submission_and_token(env: Env) -> None:
    job = running(env)
    decision = apply(job, killed(job, backend_job_id="b1"), env)
    new = decision.job
    assert new is not None and new.phase is Phase.QUEUED and new.attempt == 2
    assert new.backend_job_id is None and new.start_time is None and new.end_time is None and new.error is None
    [submit] = only(decision.outbox, SubmitJob)
    [event] = only(decision.outbox, JobPhaseChanged)
    assert submit.attempt == 2 and submit.job_id == job.job_id
    assert new.callback_token_hash == token_hash(submit.callback_token.get_secret_value())
    assert new.callback_token_hash != job.callback_token_hash  # the first attempt's token stops working
    assert event.phase is Phase.QUEUED and event.previous_phase is Phase.EXECUTING and event.attempt == 2
    [entry] = decision.history
    assert entry.phase is Phase.QUEUED
    assert entry.detail.startswith("attempt 2 of 3 after: killed by signal 9 (SIGKILL)")
    [past] = new.attempts
    assert (past.number, past.backend_job_id, past.start_time, past.end_time) == (1, "b1", at(5), at(19))
    assert past.failure_class is FailureClass.TRANSIENT and "signal 9" in past.message


def test_the_last_attempt_s_transient_failure_ends_the_job_in_error_transient(env: Env) -> None:
    job = running(env, attempt=3)
    decision = apply(job, killed(job), env)
    new = decision.job
    assert new is not None and new.phase is Phase.ERROR and new.attempt == 3
    assert new.error is not None and new.error.type is ErrorType.TRANSIENT
    assert new.error.failure_class is FailureClass.TRANSIENT
    assert not only(decision.outbox, SubmitJob)
    [event] = only(decision.outbox, JobPhaseChanged)
    assert event.error_type is ErrorType.TRANSIENT and event.failure_class is FailureClass.TRANSIENT


def test_the_facility_s_max_retries_bounds_the_attempts(env: Env) -> None:
    env = replace(env, facilities={**env.facilities, "local": FacilitySpec("local", "local", "local", 0)})
    job = running(env)
    decision = apply(job, killed(job), env)
    assert decision.job is not None and decision.job.phase is Phase.ERROR


def test_a_payload_that_exits_1_is_fatal_and_not_retried(env: Env) -> None:
    job = running(env)
    failure = observed(job, DiracStatus.FAILED, 20, minor_status="Application Finished With Errors", exit_code=1,
                       error="exit code 1: boom", started_at=at(5), ended_at=at(19))
    decision = apply(job, failure, env)
    new = decision.job
    assert new is not None and new.phase is Phase.ERROR and new.attempt == 1 and not new.attempts
    assert new.error is not None and new.error.type is ErrorType.FATAL
    assert new.error.failure_class is FailureClass.FATAL
    assert not only(decision.outbox, SubmitJob)


def test_an_aborted_job_is_never_retried(env: Env) -> None:
    job = running(env)
    asked = apply(job, AbortJob(job_id=job.job_id, owner=job.owner, occurred_at=at(10)), env).job
    assert asked is not None and asked.abort_requested_at is not None
    decision = apply(asked, killed(asked), env)
    assert decision.job is not None and decision.job.phase is Phase.ERROR and decision.job.attempt == 1
    assert not only(decision.outbox, SubmitJob)
    ended = apply(asked, observed(asked, DiracStatus.KILLED, 20, minor_status="aborted by its owner"), env)
    assert ended.job is not None and ended.job.phase is Phase.ABORTED and not only(ended.outbox, SubmitJob)


def test_a_late_observation_of_the_first_attempt_is_ignored(env: Env) -> None:
    job = running(env)
    retried = apply(job, killed(job, backend_job_id="b1"), env).job
    assert retried is not None and retried.attempt == 2
    late = observed(retried, DiracStatus.FAILED, 30, backend_job_id="b1", **SIGKILLED)
    assert_ignored(apply(retried, late, env), "stale")
    late_running = observed(retried, DiracStatus.RUNNING, 31, backend_job_id="b1")
    assert_ignored(apply(retried, late_running, env), "stale")
    resubmitted = JobSubmitted(job_id=job.job_id, facility="local", backend_job_id="b1", occurred_at=at(32))
    assert_ignored(apply(retried, resubmitted, env), "stale")
    submitted = apply(retried, resubmitted.model_copy(update={"backend_job_id": "b2", "attempt": 2}), env)
    assert submitted.job is not None and submitted.job.backend_job_id == "b2"
    other = observed(submitted.job, DiracStatus.DONE, 40, backend_job_id="b1")
    assert_ignored(apply(submitted.job, other, env), "stale")
    done = apply(submitted.job, observed(submitted.job, DiracStatus.DONE, 41, backend_job_id="b2",
                                         started_at=at(35), ended_at=at(40)), env)
    assert done.job is not None and done.job.phase is Phase.COMPLETED and done.job.attempt == 2
    assert [a.number for a in done.job.attempts] == [1]


def test_a_submission_failure_of_an_earlier_attempt_is_ignored(env: Env) -> None:
    job = replace(job_in(Phase.QUEUED, env), attempt=2)
    late = JobSubmissionFailed(job_id=job.job_id, facility="local", message="refused", attempt=1)
    assert_ignored(apply(job, late, env), "stale")


def test_a_transient_submission_failure_is_retried(env: Env) -> None:
    job = job_in(Phase.QUEUED, env)
    failure = JobSubmissionFailed(job_id=job.job_id, facility="local", error_type=ErrorType.TRANSIENT,
                                  message="sandbox upload failed: connection reset")
    decision = apply(job, failure, env)
    assert decision.job is not None and decision.job.phase is Phase.QUEUED and decision.job.attempt == 2
    [submit] = only(decision.outbox, SubmitJob)
    assert submit.attempt == 2


def test_a_refused_submission_is_fatal(env: Env) -> None:
    job = job_in(Phase.QUEUED, env)
    decision = apply(job, JobSubmissionFailed(job_id=job.job_id, facility="local", message="JDL refused"), env)
    assert decision.job is not None and decision.job.phase is Phase.ERROR
    assert decision.job.error is not None and decision.job.error.failure_class is FailureClass.FATAL


def test_an_execution_duration_exceeded_ends_aborted_with_the_timeout_class(env: Env) -> None:
    job = running(env)
    overtime = observed(job, DiracStatus.KILLED, 20, minor_status="Execution duration exceeded",
                        error="Execution duration of 10 s exceeded")
    decision = apply(job, overtime, env)
    assert decision.job is not None and decision.job.phase is Phase.ABORTED
    assert decision.job.error is not None and decision.job.error.failure_class is FailureClass.TIMEOUT


def test_a_queued_job_lost_before_its_start_was_seen_is_retried_once(env: Env) -> None:
    job = job_in(Phase.QUEUED, env)
    decision = apply(job, observed(job, DiracStatus.FAILED, 20, minor_status="Process lost",
                                   error="the process ended without an exit status", backend_job_id="b1"), env)
    new = decision.job
    assert new is not None and new.phase is Phase.QUEUED and new.attempt == 2
    assert [(h.previous_phase, h.phase) for h in decision.history] == [(Phase.QUEUED, Phase.QUEUED)]
    assert new.attempts[0].backend_job_id == "b1"

"""The catalog's state machine over in-memory jobs: callback reports and backend observations, stale and
duplicate ones included."""

from dataclasses import replace

import pytest

from esap_catalog.domain.phases import DIRAC_TO_PHASE, phase_of
from esap_catalog.domain.state_machine import Env, apply
from esap_messages import (
    CALLBACK_END_STATUSES,
    FINAL_PHASES,
    FINAL_STATUSES,
    DiracStatus,
    ErrorType,
    JobPhaseChanged,
    JobReported,
    Phase,
    ResultFile,
)

from .catalog_fakes import assert_ignored, at, job_in, make_env, observed, only


@pytest.fixture
def env() -> Env:
    return make_env()


# --- Callback reports -------------------------------------------------------------------------------------------

def test_a_running_report_moves_a_queued_job_to_executing(env: Env) -> None:
    job = job_in(Phase.QUEUED, env)
    report = JobReported(job_id=job.job_id, status=DiracStatus.RUNNING, reported_at=at(10), started_at=at(9))
    decision = apply(job, report, env)
    assert decision.job is not None and decision.job.phase is Phase.EXECUTING
    assert decision.job.start_time == at(9)
    assert [(h.previous_phase, h.phase, h.source) for h in decision.history] == [
        (Phase.QUEUED, Phase.EXECUTING, "callback")]
    without_start = apply(job, report.model_copy(update={"started_at": None}), env)
    assert without_start.job is not None and without_start.job.start_time == at(10)


@pytest.mark.parametrize("status", [DiracStatus.DONE, DiracStatus.FAILED])
def test_a_final_report_never_ends_the_job(env: Env, status: DiracStatus) -> None:
    job = job_in(Phase.EXECUTING, env)
    decision = apply(job, JobReported(job_id=job.job_id, status=status, reported_at=at(20)), env)
    assert decision.job is not None and decision.job.phase is Phase.EXECUTING and not decision.history
    assert decision.job.dirac.status is status


def test_a_report_of_the_status_already_known_changes_nothing(env: Env) -> None:
    job = job_in(Phase.EXECUTING, env)
    job = replace(job, dirac=replace(job.dirac, status=DiracStatus.RUNNING, observed_at=at(5)))
    report = JobReported(job_id=job.job_id, status=DiracStatus.RUNNING, reported_at=at(20))
    assert_ignored(apply(job, report, env), "stale")


def test_reports_for_a_final_job_are_ignored(env: Env) -> None:
    job = job_in(Phase.COMPLETED, env)
    report = JobReported(job_id=job.job_id, status=DiracStatus.RUNNING, reported_at=at(20))
    assert_ignored(apply(job, report, env), "final")


# --- Backend observations ---------------------------------------------------------------------------------------

def test_every_dirac_status_maps_to_a_phase() -> None:
    assert set(DIRAC_TO_PHASE) == set(DiracStatus)
    assert phase_of(DiracStatus.COMPLETED) is Phase.EXECUTING
    assert phase_of(DiracStatus.STALLED) is Phase.EXECUTING
    assert phase_of(DiracStatus.RESCHEDULED) is Phase.QUEUED
    assert phase_of(DiracStatus.DELETED) is Phase.ABORTED


def test_the_final_statuses_are_those_that_map_to_a_final_phase() -> None:
    assert {status for status in DiracStatus if phase_of(status) in FINAL_PHASES} == FINAL_STATUSES
    assert CALLBACK_END_STATUSES < FINAL_STATUSES


def test_a_queued_status_records_the_backend_view_only(env: Env) -> None:
    job = job_in(Phase.QUEUED, env)
    decision = apply(job, observed(job, DiracStatus.WAITING, 5, minor_status="Pilot Agent Submission",
                                   site="LCG.IN2P3-CC.fr"), env)
    new = decision.job
    assert new is not None and new.phase is Phase.QUEUED and decision.changed and not decision.history
    assert (new.dirac.status, new.dirac.minor_status, new.dirac.site) == (
        DiracStatus.WAITING, "Pilot Agent Submission", "LCG.IN2P3-CC.fr")


@pytest.mark.parametrize("status", [DiracStatus.RUNNING, DiracStatus.COMPLETING, DiracStatus.COMPLETED,
                                    DiracStatus.STALLED])
def test_running_statuses_move_to_executing(env: Env, status: DiracStatus) -> None:
    job = job_in(Phase.QUEUED, env)
    decision = apply(job, observed(job, status, 5), env)
    assert decision.job is not None and decision.job.phase is Phase.EXECUTING
    assert decision.job.start_time == at(5)


def test_done_completes_the_job_with_its_results(env: Env) -> None:
    job = job_in(Phase.EXECUTING, env, start_time=at(4), callback_token_hash=b"h" * 32)
    results = (ResultFile(name="helloworld.json", size=120, mime_type="application/json",
                          location="file:///tmp/x/helloworld.json"),)
    decision = apply(job, observed(job, DiracStatus.DONE, 30, ended_at=at(29), results=results), env)
    new = decision.job
    assert new is not None and new.phase is Phase.COMPLETED and new.end_time == at(29)
    assert new.start_time == at(4) and new.error is None
    assert new.callback_token_hash == b"h" * 32  # kept: the final phase refuses it, and tells late from forged
    assert decision.results == results
    [event] = only(decision.outbox, JobPhaseChanged)
    assert (event.previous_phase, event.phase, event.dirac_status) == (
        Phase.EXECUTING, Phase.COMPLETED, DiracStatus.DONE)


def test_done_straight_from_queued_completes_too(env: Env) -> None:
    job = job_in(Phase.QUEUED, env)
    decision = apply(job, observed(job, DiracStatus.DONE, 30), env)
    assert decision.job is not None and decision.job.phase is Phase.COMPLETED
    assert decision.job.end_time == at(30) and decision.results == ()
    assert [entry.phase for entry in decision.history] == [Phase.COMPLETED]  # no start known: it may not have run


@pytest.mark.parametrize(("status", "final"), [(DiracStatus.DONE, Phase.COMPLETED), (DiracStatus.FAILED, Phase.ERROR),
                                               (DiracStatus.KILLED, Phase.ABORTED)])
def test_an_end_that_overtook_its_start_still_records_executing_first(env: Env, status: DiracStatus,
                                                                      final: Phase) -> None:
    job = job_in(Phase.QUEUED, env)
    decision = apply(job, observed(job, status, 30, started_at=at(20), ended_at=at(29)), env)
    assert decision.job is not None and decision.job.phase is final
    assert (decision.job.start_time, decision.job.end_time) == (at(20), at(29))
    assert [(e.previous_phase, e.phase) for e in decision.history] == [(Phase.QUEUED, Phase.EXECUTING),
                                                                      (Phase.EXECUTING, final)]
    events = only(decision.outbox, JobPhaseChanged)
    assert [(e.previous_phase, e.phase) for e in events] == [(Phase.QUEUED, Phase.EXECUTING), (Phase.EXECUTING, final)]


def test_failed_ends_in_error_keeping_results(env: Env) -> None:
    job = job_in(Phase.EXECUTING, env)
    results = (ResultFile(name="stderr.txt", size=3, mime_type="text/plain", location="file:///e"),)
    by_minor = apply(job, observed(job, DiracStatus.FAILED, 30, minor_status="Application Finished With Errors",
                                   results=results), env)
    assert by_minor.job is not None and by_minor.job.phase is Phase.ERROR and by_minor.results == results
    assert by_minor.job.error is not None and by_minor.job.error.message == "Application Finished With Errors"
    by_error = apply(job, observed(job, DiracStatus.FAILED, 30, minor_status="m", error="exit code 3"), env)
    assert by_error.job is not None and by_error.job.error is not None
    assert by_error.job.error.message == "exit code 3" and by_error.job.error.type is ErrorType.FATAL


@pytest.mark.parametrize("status", [DiracStatus.KILLED, DiracStatus.DELETED])
def test_killed_or_deleted_aborts(env: Env, status: DiracStatus) -> None:
    job = job_in(Phase.EXECUTING, env, abort_requested_at=at(3))
    decision = apply(job, observed(job, status, 30), env)
    assert decision.job is not None and decision.job.phase is Phase.ABORTED and decision.job.error is None
    limit = apply(job, observed(job, status, 30, error="execution duration exceeded"), env)
    assert limit.job is not None and limit.job.error is not None
    assert limit.job.error.message == "execution duration exceeded"


def test_a_stale_running_after_done_leaves_the_job_completed(env: Env) -> None:
    job = job_in(Phase.EXECUTING, env)
    done = apply(job, observed(job, DiracStatus.DONE, 30), env).job
    assert done is not None
    assert_ignored(apply(done, observed(job, DiracStatus.RUNNING, 20), env), "final")
    assert_ignored(apply(done, observed(job, DiracStatus.RUNNING, 40), env), "final")


def test_a_phase_never_moves_backwards_and_old_observations_do_not_overwrite(env: Env) -> None:
    job = job_in(Phase.QUEUED, env)
    running = apply(job, observed(job, DiracStatus.RUNNING, 10, minor_status="Application"), env).job
    assert running is not None and running.phase is Phase.EXECUTING
    older = apply(running, observed(job, DiracStatus.WAITING, 5), env)
    assert_ignored(older, "stale")
    rescheduled = apply(running, observed(job, DiracStatus.RESCHEDULED, 15), env)
    assert rescheduled.job is not None and rescheduled.job.phase is Phase.EXECUTING
    assert rescheduled.job.dirac.status is DiracStatus.RESCHEDULED and not rescheduled.history
    assert_ignored(apply(running, observed(job, DiracStatus.RUNNING, 10, minor_status="Application"), env),
                   "stale")


def test_observations_of_a_pending_job_are_ignored(env: Env) -> None:
    job = job_in(Phase.PENDING, env)
    assert_ignored(apply(job, observed(job, DiracStatus.RUNNING, 5), env), "not_applicable")

"""UpdateJob, DeleteJob and DestroyJob over in-memory jobs, and a deletion folded into a batch."""

import pytest

from esap_catalog.domain.batch import decide
from esap_catalog.domain.model import DestroyJob
from esap_catalog.domain.state_machine import Env, apply
from esap_messages import DeleteJob, JobPhaseChanged, KillJob, Phase, RunJob, UpdateJob

from .catalog_fakes import assert_ignored, at, create, job_in, make_env, only


@pytest.fixture
def env() -> Env:
    return make_env()


def test_a_pending_job_takes_new_parameters_duration_and_destruction(env: Env) -> None:
    job = job_in(Phase.PENDING, env)
    message = UpdateJob(job_id=job.job_id, owner="alice", parameters={"Parameter1": "7"}, execution_duration=30,
                        destruction=at(5000))
    decision = apply(job, message, env)
    assert decision.changed and decision.job is not None
    assert dict(decision.job.parameters) == {"Parameter1": "7"}
    assert decision.job.execution_duration == 30 and decision.job.destruction == at(5000)
    assert not decision.history and not decision.outbox


@pytest.mark.parametrize("phase", [Phase.QUEUED, Phase.EXECUTING, Phase.COMPLETED])
def test_parameters_of_a_job_that_left_pending_stay_as_they_are(env: Env, phase: Phase) -> None:
    job = job_in(phase, env)
    assert_ignored(apply(job, UpdateJob(job_id=job.job_id, owner="alice", parameters={}), env), "not_applicable")
    moved = apply(job, UpdateJob(job_id=job.job_id, owner="alice", destruction=at(9000)), env)
    assert moved.job is not None and moved.job.destruction == at(9000)


def test_updates_and_deletions_by_another_owner_change_nothing(env: Env) -> None:
    job = job_in(Phase.PENDING, env)
    assert_ignored(apply(job, UpdateJob(job_id=job.job_id, owner="bob", execution_duration=1), env), "not_owner")
    assert_ignored(apply(job, DeleteJob(job_id=job.job_id, owner="bob"), env), "not_owner")
    assert_ignored(apply(job, DeleteJob(job_id=job.job_id, owner=None), env), "not_owner")


def test_deleting_an_executing_job_kills_it_and_removes_it(env: Env) -> None:
    job = job_in(Phase.EXECUTING, env, backend_job_id="42")
    decision = apply(job, DeleteJob(job_id=job.job_id, owner="alice"), env)
    assert decision.deleted and decision.changed and not decision.history
    [kill] = only(decision.outbox, KillJob)
    [event] = only(decision.outbox, JobPhaseChanged)
    assert kill.backend_job_id == "42"
    assert event.phase is Phase.ARCHIVED and event.previous_phase is Phase.EXECUTING


def test_a_passed_destruction_archives_a_finished_job_and_drops_its_results(env: Env) -> None:
    job = job_in(Phase.COMPLETED, env, destruction=at(50), end_time=at(40))
    decision = apply(job, DestroyJob(job_id=job.job_id), env)
    assert decision.job is not None and decision.job.phase is Phase.ARCHIVED and not decision.deleted
    assert decision.results == () and decision.job.end_time == at(40)
    assert [(h.previous_phase, h.phase, h.source) for h in decision.history] == [
        (Phase.COMPLETED, Phase.ARCHIVED, "catalog")]
    assert [type(m) for m in decision.outbox] == [JobPhaseChanged]


def test_a_passed_destruction_of_a_running_job_kills_it_first(env: Env) -> None:
    job = job_in(Phase.QUEUED, env, destruction=at(50))
    decision = apply(job, DestroyJob(job_id=job.job_id), env)
    assert [type(m) for m in decision.outbox] == [KillJob, JobPhaseChanged]


def test_destruction_is_guarded_by_the_job_s_current_destruction_time(env: Env) -> None:
    later = job_in(Phase.COMPLETED, env, destruction=at(5000))
    assert_ignored(apply(later, DestroyJob(job_id=later.job_id), env), "not_applicable")
    archived = job_in(Phase.ARCHIVED, env, destruction=at(50))
    assert_ignored(apply(archived, DestroyJob(job_id=archived.job_id), env), "final")
    removed = apply(archived, DestroyJob(job_id=archived.job_id, remove=True), env)
    assert removed.deleted and not removed.outbox


def test_a_job_made_and_deleted_in_one_batch_is_never_stored(env: Env) -> None:
    message = create()
    outcome = decide([message, DeleteJob(job_id=message.job_id, owner="alice"),
                      RunJob(job_id=message.job_id, owner="alice")], {}, env)
    assert not outcome.created and not outcome.updated and not outcome.deleted and not outcome.history
    assert outcome.ignored[-1].reason == "unknown_job"


def test_an_existing_job_deleted_in_a_batch_is_only_deleted(env: Env) -> None:
    job = job_in(Phase.PENDING, env)
    outcome = decide([RunJob(job_id=job.job_id, owner="alice"), DeleteJob(job_id=job.job_id, owner="alice")],
                     {job.job_id: job}, env)
    assert outcome.deleted == {job.job_id} and not outcome.updated and not outcome.history
    assert outcome.changed_ids == [job.job_id]

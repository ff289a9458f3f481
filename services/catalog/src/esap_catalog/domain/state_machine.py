"""The catalog's state machine: one message applied to one job, as a pure function (``apply``).

It follows the phase table of docs/ARCHITECTURE.md. Every change is a compare-and-set on the job's current
phase: a duplicate, late or out-of-order message finds the job elsewhere and changes nothing (the decision
says why it was ignored). A message that is wrong for the domain never raises: a CreateJob naming an unknown
workflow still makes a job, in ERROR, so that no job is lost.
No I/O (clock and token source come in through ``Env``). Depends on esap_messages and the domain only.
"""

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from esap_catalog.domain.campaigns import CreateChild
from esap_catalog.domain.destruction import delete, destroy, update
from esap_catalog.domain.model import Attempt, Decision, DestroyJob, DiracState, ErrorSummary, Job
from esap_catalog.domain.phases import is_final, is_forward, phase_of
from esap_catalog.domain.transitions import Env, failed, kill, move, moved, not_owner, queued, retried, retryable
from esap_messages import (
    ACTIVE_PHASES,
    BACKEND_PHASES,
    AbortJob,
    CreateCampaign,
    CreateJob,
    DeleteJob,
    DiracStatus,
    ErrorType,
    FailureClass,
    JobKillFailed,
    JobReported,
    JobStatusObserved,
    JobSubmissionFailed,
    JobSubmitted,
    Message,
    Phase,
    ResultFile,
    RunJob,
    UpdateJob,
)
from esap_messages.failures import classify

__all__ = ["Env", "apply"]

SOURCE_GATEWAY = "gateway"
SOURCE_SUBMITTER = "submitter"
SOURCE_CALLBACK = "callback"


def apply(job: Job | None, message: Message, env: Env) -> Decision:
    """The job after ``message``, and what that change implies. ``job`` is None when it does not exist yet."""
    if isinstance(message, CreateJob):
        return _create(job, message, env)
    handler = _HANDLERS.get(type(message))
    if handler is None:
        return Decision(job, ignored="not_applicable")
    if job is None:
        return Decision(None, ignored="unknown_job")
    return handler(job, message, env)


def _create(job: Job | None, m: CreateJob, env: Env) -> Decision:
    if job is not None:
        return Decision(job, ignored="duplicate")
    workflow, facility = env.workflows.get(m.workflow), env.facilities.get(m.facility)
    defaults = dict(workflow.defaults) if workflow else {}
    if isinstance(m, CreateCampaign):  # a campaign's parameters are its children's common ones, not the swept
        swept = {name for child in m.children for name in child}
        defaults = {name: value for name, value in defaults.items() if name not in swept}
    new = Job(
        job_id=m.job_id, owner=m.owner, run_id=m.run_id, workflow=m.workflow, facility=m.facility,
        backend=facility.backend if facility else "", parameters={**defaults, **m.parameters},
        phase=Phase.PENDING, creation_time=m.occurred_at, updated_at=env.now,
        execution_duration=m.execution_duration, destruction=m.destruction, quote=m.quote,
        parent_id=m.parent_id if isinstance(m, CreateChild) else None,
        swept=m.swept if isinstance(m, CreateChild) else None,
        children=len(m.children) if isinstance(m, CreateCampaign) else 0, resubmit_of=m.resubmit_of,
        notify=() if isinstance(m, CreateChild) else tuple(m.notify),
    )
    if workflow is None:
        problem = f"unknown workflow {m.workflow!r}"
    elif facility is None:
        problem = f"unknown facility {m.facility!r}"
    elif workflow.facility_types and facility.facility_type not in workflow.facility_types:
        problem = f"workflow {m.workflow!r} does not run on facilities of type {facility.facility_type!r}"
    else:
        problem = None
    if problem is not None:
        return failed(new, env, problem, source=SOURCE_GATEWAY, at=m.occurred_at, created=True,
                      failure_class=FailureClass.USAGE)
    if m.run and new.children:
        return moved(new, Phase.QUEUED, env, source=SOURCE_GATEWAY, created=True)  # its children are submitted
    if m.run:
        return queued(new, env, source=SOURCE_GATEWAY, created=True)
    return moved(new, Phase.PENDING, env, source=SOURCE_GATEWAY, created=True)


def _run(job: Job, m: RunJob, env: Env) -> Decision:
    if not_owner(job, m.owner):
        return Decision(job, ignored="not_owner")
    if job.phase is not Phase.PENDING:
        return Decision(job, ignored="not_applicable")
    if job.children:
        return Decision(job)  # applied: its children are queued, and their phases move it (domain.campaigns)
    return queued(job, env, source=SOURCE_GATEWAY)


def _abort(job: Job, m: AbortJob, env: Env) -> Decision:
    if not_owner(job, m.owner):
        return Decision(job, ignored="not_owner")
    if job.children and not is_final(job.phase):
        # Its children are aborted each; it shows ABORTED once they all have ended.
        return Decision(replace(job, abort_requested_at=m.occurred_at, updated_at=env.now), changed=True)
    if job.phase is Phase.PENDING:
        return moved(job, Phase.ABORTED, env, source=SOURCE_GATEWAY, detail="aborted before it ran",
                     end_time=m.occurred_at)
    if job.held is not None:  # never handed to its backend: nothing to kill
        return moved(job, Phase.ABORTED, env, source=SOURCE_GATEWAY, end_time=m.occurred_at, held=None,
                     detail="aborted before it was handed to its backend")
    if job.phase in ACTIVE_PHASES:
        new = replace(job, abort_requested_at=m.occurred_at, updated_at=env.now)
        return Decision(new, changed=True, outbox=(kill(new),))
    return Decision(job, ignored="final")


def _submitted(job: Job, m: JobSubmitted, env: Env) -> Decision:
    if m.attempt != job.attempt or job.superseded(m.backend_job_id):
        return Decision(job, ignored="stale")  # an earlier attempt's submission, reported late or again
    changes: dict[str, Any] = {}
    if job.backend_job_id is None:
        changes["backend_job_id"] = m.backend_job_id
    if job.dirac.status is None:
        changes["dirac"] = replace(job.dirac, status=m.status, observed_at=m.occurred_at)
    new = replace(job, updated_at=env.now, **changes) if changes else job
    if job.phase in (Phase.ABORTED, Phase.ARCHIVED) or job.abort_requested_at is not None:
        # The abort overtook the submission: now there is something to kill.
        return Decision(new, changed=bool(changes), outbox=(kill(new),))
    if m.status is DiracStatus.RUNNING and job.phase is Phase.QUEUED:
        return moved(new, Phase.EXECUTING, env, source=SOURCE_SUBMITTER, detail="started by its executor",
                     start_time=m.started_at or m.occurred_at)
    if not changes:
        return Decision(job, ignored="duplicate")
    return Decision(new, changed=True)


def _observe(dirac: DiracState, m: JobStatusObserved) -> DiracState:
    """The backend's fields, replaced only by a newer observation."""
    if dirac.observed_at is not None and m.observed_at <= dirac.observed_at:
        return dirac
    return DiracState(m.status, m.minor_status, m.application_status, m.site, m.observed_at)


def _reported(job: Job, m: JobReported, env: Env) -> Decision:
    if is_final(job.phase):
        return Decision(job, ignored="final")
    if job.phase not in BACKEND_PHASES:
        return Decision(job, ignored="not_applicable")
    dirac = job.dirac
    if dirac.status is not m.status and (dirac.observed_at is None or m.reported_at > dirac.observed_at):
        # A report of the status already known (the local executor's Running after its JobSubmitted said so)
        # changes nothing: no write, no wake-up of the job's waiters.
        dirac = replace(dirac, status=m.status, observed_at=m.reported_at)
    if m.status is DiracStatus.RUNNING and job.phase is Phase.QUEUED:
        return moved(job, Phase.EXECUTING, env, source=SOURCE_CALLBACK, detail="the job reported Running",
                     dirac=dirac, start_time=m.started_at or m.reported_at)
    if dirac == job.dirac:
        return Decision(job, ignored="stale")
    return Decision(replace(job, dirac=dirac, updated_at=env.now), changed=True)


def _late(job: Job, m: JobStatusObserved) -> bool:
    """An observation of a backend job that is not the current attempt's (an earlier attempt's, retried)."""
    if job.superseded(m.backend_job_id):
        return True
    return m.backend_job_id is not None and job.backend_job_id is not None and m.backend_job_id != job.backend_job_id


def _status_observed(job: Job, m: JobStatusObserved, env: Env) -> Decision:
    if is_final(job.phase):
        return Decision(job, ignored="final")
    if job.phase not in BACKEND_PHASES:
        return Decision(job, ignored="not_applicable")
    if _late(job, m):
        return Decision(job, ignored="stale")
    dirac = _observe(job.dirac, m)
    target = phase_of(m.status)
    if not is_forward(job.phase, target):
        if dirac == job.dirac:
            return Decision(job, ignored="stale")
        return Decision(replace(job, dirac=dirac, updated_at=env.now), changed=True)
    detail = f"{m.status.value}: {m.minor_status}" if m.minor_status else m.status.value
    start = job.start_time or m.started_at
    if target is Phase.EXECUTING:
        return moved(job, target, env, source=m.source.value, detail=detail, dirac=dirac,
                     start_time=start or m.observed_at)
    changes: dict[str, Any] = {"dirac": dirac, "start_time": start, "end_time": m.ended_at or m.observed_at}
    results = m.results
    if target is Phase.COMPLETED:
        results = results or ()
    elif target is Phase.ERROR:
        reason = m.error or m.minor_status or "the job failed on its backend"
        failure_class = _classify(job, m)
        if retryable(job, failure_class, env):
            ended = Attempt(job.attempt, job.backend_job_id or m.backend_job_id, start, m.ended_at or m.observed_at,
                            failure_class, reason)
            return retried(job, env, ended, source=m.source.value)
        error_type = ErrorType.TRANSIENT if failure_class is FailureClass.TRANSIENT else ErrorType.FATAL
        changes["error"] = ErrorSummary(error_type, reason, failure_class)
    elif m.error:
        changes["error"] = ErrorSummary(ErrorType.FATAL, m.error, _classify(job, m))
    if job.phase is Phase.QUEUED and m.started_at is not None:
        return _ran_unseen(job, target, m, env, detail, results, changes)
    return moved(job, target, env, source=m.source.value, detail=detail, results=results, **changes)


def _classify(job: Job, m: JobStatusObserved) -> FailureClass:
    return classify(m.status, m.minor_status, m.exit_code, m.error, killed_by_us=job.abort_requested_at is not None)


def _ran_unseen(job: Job, target: Phase, m: JobStatusObserved, env: Env, detail: str,
                results: tuple[ResultFile, ...] | None, changes: dict[str, Any]) -> Decision:
    """A QUEUED job seen ended, with a start time: it ran, but its start was not seen (the end overtook it on the
    bus, or a poll fell between them). EXECUTING goes into the history and out as an event first, so that every
    job that ran shows it."""
    running, entry, event = move(job, Phase.EXECUTING, env, source=m.source.value,
                                 detail=f"{DiracStatus.RUNNING.value} (seen with its end)",
                                 start_time=changes["start_time"])
    final = moved(running, target, env, source=m.source.value, detail=detail, results=results, **changes)
    return replace(final, history=(entry, *final.history), outbox=(event, *final.outbox))


def _submission_failed(job: Job, m: JobSubmissionFailed, env: Env) -> Decision:
    if job.phase not in BACKEND_PHASES:
        return Decision(job, ignored="final" if is_final(job.phase) else "not_applicable")
    if m.attempt != job.attempt:
        return Decision(job, ignored="stale")  # an earlier attempt's, reported late or again
    failure_class = m.failure_class or (
        FailureClass.TRANSIENT if m.error_type is ErrorType.TRANSIENT else classify(None, error=m.message))
    if retryable(job, failure_class, env):
        ended = Attempt(job.attempt, job.backend_job_id, job.start_time, m.occurred_at, failure_class, m.message)
        return retried(job, env, ended, source=SOURCE_SUBMITTER)
    return failed(job, env, m.message, source=SOURCE_SUBMITTER, at=m.occurred_at, error_type=m.error_type,
                  failure_class=failure_class)


def _kill_failed(job: Job, m: JobKillFailed, env: Env) -> Decision:
    if job.phase not in ACTIVE_PHASES:
        return Decision(job, ignored="final" if is_final(job.phase) else "not_applicable")
    new = replace(job, abort_requested_at=None, error=ErrorSummary(ErrorType.TRANSIENT, m.message),
                  updated_at=env.now)
    return Decision(new, changed=True)


_HANDLERS: dict[type[Message], Callable[[Job, Any, Env], Decision]] = {
    RunJob: _run,
    AbortJob: _abort,
    JobSubmitted: _submitted,
    JobReported: _reported,
    JobStatusObserved: _status_observed,
    JobSubmissionFailed: _submission_failed,
    JobKillFailed: _kill_failed,
    UpdateJob: update,
    DeleteJob: delete,
    DestroyJob: destroy,
}

"""The building blocks of the state machine: moving a job to a phase, queueing it, asking for a kill.

Each returns the new job and the effects of the change (phase history, messages for the outbox); none decides
whether a change is allowed, which is the state machine's job.
No I/O: the clock and the token source come in through ``Env``.
Depends on esap_messages, pydantic's SecretStr and the domain only.
"""

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from pydantic import SecretStr

from esap_catalog.domain.model import (
    DEFAULT_MAX_RETRIES,
    Attempt,
    Decision,
    DiracState,
    ErrorSummary,
    FacilitySpec,
    Job,
    PhaseChange,
    WorkflowSpec,
)
from esap_messages import (
    ErrorType,
    FailureClass,
    JobPhaseChanged,
    KillJob,
    Message,
    Phase,
    ResultFile,
    SubmitJob,
)


@dataclass(frozen=True)
class Env:
    """What the state machine may know of the world besides the job and the message."""

    now: datetime
    new_token: Callable[[], str]
    workflows: Mapping[str, WorkflowSpec]
    facilities: Mapping[str, FacilitySpec]


def token_hash(token: str) -> bytes:
    """The only form in which a callback token is kept."""
    return hashlib.sha256(token.encode()).digest()


def move(job: Job, to: Phase, env: Env, *, source: str, detail: str = "", created: bool = False,
         **changes: Any) -> tuple[Job, PhaseChange, JobPhaseChanged]:
    """Put ``job`` in phase ``to`` with ``changes``. A final phase keeps the callback token's hash: the phase
    refuses every callback from then on, and the hash tells a late report (the right token) from a forged one."""
    before = None if created else job.phase
    if to is not Phase.QUEUED:
        changes.setdefault("held", None)  # only a QUEUED job waits in esap-batch
    new = replace(job, phase=to, updated_at=env.now, **changes)
    entry = PhaseChange(new.job_id, to, before, env.now, source, detail)
    event = JobPhaseChanged(
        job_id=new.job_id, owner=new.owner, workflow=new.workflow, facility=new.facility,
        backend=new.backend, phase=to, previous_phase=before, backend_job_id=new.backend_job_id,
        dirac_status=new.dirac.status, changed_at=env.now, attempt=new.attempt,
        error_type=new.error.type if new.error else None,
        failure_class=new.error.failure_class if new.error else None,
    )
    return new, entry, event


def moved(job: Job, to: Phase, env: Env, *, source: str, detail: str = "", created: bool = False,
          results: tuple[ResultFile, ...] | None = None, **changes: Any) -> Decision:
    """A decision that moves the job to ``to`` and does nothing else."""
    new, entry, event = move(job, to, env, source=source, detail=detail, created=created, **changes)
    return Decision(new, created=created, changed=True, history=(entry,), outbox=(event,), results=results)


def queued(job: Job, env: Env, *, source: str, created: bool = False) -> Decision:
    """PENDING (or nothing) -> QUEUED: make the callback token and hand the job to the submitter."""
    workflow = env.workflows.get(job.workflow)
    if workflow is None:
        return failed(job, env, f"workflow {job.workflow!r} is no longer in the catalogue", source=source,
                      created=created, at=env.now)
    token = env.new_token()
    new, entry, event = move(job, Phase.QUEUED, env, source=source, created=created,
                             callback_token_hash=token_hash(token))
    return Decision(new, created=created, changed=True, history=(entry,),
                    outbox=(submit_message(new, workflow, token), event))


def submit_message(job: Job, workflow: WorkflowSpec, token: str) -> SubmitJob:
    return SubmitJob(
        job_id=job.job_id, owner=job.owner, facility=job.facility, backend=job.backend, workflow=workflow.run,
        runtime=workflow.runtime, parameters=dict(job.parameters), execution_duration=job.execution_duration,
        callback_token=SecretStr(token), attempt=job.attempt,
    )


def max_attempts(job: Job, env: Env) -> int:
    """The first attempt and the facility's retries (its default when the facility is gone)."""
    facility = env.facilities.get(job.facility)
    return 1 + (facility.max_retries if facility is not None else DEFAULT_MAX_RETRIES)


def retryable(job: Job, failure_class: FailureClass, env: Env) -> bool:
    """A transient failure of a job nobody asked to stop, with attempts left, is retried."""
    return (failure_class is FailureClass.TRANSIENT and job.abort_requested_at is None
            and job.attempt < max_attempts(job, env) and job.workflow in env.workflows)


def retried(job: Job, env: Env, failure: Attempt, *, source: str) -> Decision:
    """The attempt ended by a transient failure: back to QUEUED as the next attempt, with a new callback token
    (the old one stops working: only the new hash is kept) and a new SubmitJob; the attempt that ended is kept."""
    workflow = env.workflows[job.workflow]
    token = env.new_token()
    number = job.attempt + 1
    detail = f"attempt {number} of {max_attempts(job, env)} after: {failure.message}"
    new, entry, event = move(
        job, Phase.QUEUED, env, source=source, detail=detail[:200], attempt=number,
        attempts=(*job.attempts, failure), backend_job_id=None, start_time=None, end_time=None,
        dirac=DiracState(), error=None, callback_token_hash=token_hash(token))
    return Decision(new, changed=True, history=(entry,), outbox=(submit_message(new, workflow, token), event))


def failed(job: Job, env: Env, message: str, *, source: str, at: datetime, created: bool = False,
           error_type: ErrorType = ErrorType.FATAL, failure_class: FailureClass = FailureClass.FATAL) -> Decision:
    """The job cannot run: ERROR with an error summary saying why."""
    return moved(job, Phase.ERROR, env, source=source, detail=message[:200], created=created, end_time=at,
                 error=ErrorSummary(error_type, message, failure_class))


def not_owner(job: Job, owner: str | None) -> bool:
    """A command acts only on its sender's jobs; an anonymous sender (None) only on anonymous jobs.

    The gateway checks this too; the catalog checks it again so that ownership does not rest on one service.
    """
    return owner != job.owner


def kill(job: Job) -> Message:
    return KillJob(job_id=job.job_id, facility=job.facility, backend=job.backend,
                   backend_job_id=job.backend_job_id, attempt=job.attempt)

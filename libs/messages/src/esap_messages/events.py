"""Events: what happened, past tense, for any subscriber.

Into the catalog: JobSubmitted, JobSubmissionFailed, JobStatusObserved, JobKillFailed, JobReported.
Out of the catalog: JobPhaseChanged, one for every phase change it accepted; CommandSettled, one for every command
a client's request made, once it is applied or refused.
From the gateway's callback: JobReported.
Depends on pydantic only.
"""

from enum import StrEnum
from typing import ClassVar
from uuid import UUID

from pydantic import Field

from esap_messages import model
from esap_messages.base import Message, UtcDatetime


class JobSubmitted(Message):
    """The backend accepted the job under ``backend_job_id``; ``status`` is what the submitter saw of it then
    (Running, with ``started_at``, when the executor started the job at once, as the local executor does)."""

    routing_key: ClassVar[str] = "job.submitted"
    schema_version: ClassVar[int] = 3  # 2: started_at; 3: attempt

    job_id: UUID
    facility: str
    backend_job_id: str = Field(min_length=1, max_length=128)
    attempt: int = Field(default=1, ge=1, description="The SubmitJob's attempt: a late one of an earlier attempt "
                         "is ignored.")
    status: model.DiracStatus = model.DiracStatus.RECEIVED
    started_at: UtcDatetime | None = None


class JobSubmissionFailed(Message):
    """The backend refused the job for good, or retries ran out."""

    routing_key: ClassVar[str] = "job.submission_failed"
    schema_version: ClassVar[int] = 2  # 2: attempt, failure_class

    job_id: UUID
    facility: str
    error_type: model.ErrorType = model.ErrorType.FATAL
    message: str = Field(max_length=4000)
    attempt: int = Field(default=1, ge=1, description="The SubmitJob's attempt: a late one of an earlier attempt "
                         "is ignored.")
    failure_class: model.FailureClass | None = Field(
        default=None, description="The class of the failure, when the submitter knows it; else the catalog "
        "classes it (transient for error_type transient, by esap_messages.failures.classify otherwise).")


class JobStatusObserved(Message):
    """A backend status of a job, seen by the monitor, reported by the job itself, or by the submitter."""

    routing_key: ClassVar[str] = "job.status_observed"
    schema_version: ClassVar[int] = 3  # 2: history; 3: backend_job_id

    job_id: UUID
    backend_job_id: str | None = Field(
        default=None, max_length=128, description="The backend job observed, when the observer knows it: an "
        "observation of an earlier attempt's backend job (superseded by an automatic retry) is ignored.")
    source: model.StatusSource
    status: model.DiracStatus
    minor_status: str = Field(default="", max_length=512)
    application_status: str = Field(default="", max_length=512)
    site: str = Field(default="", max_length=128)
    observed_at: UtcDatetime
    started_at: UtcDatetime | None = None
    ended_at: UtcDatetime | None = None
    exit_code: int | None = None
    results: tuple[model.ResultFile, ...] | None = Field(default=None, description="Set with a final status.")
    error: str | None = Field(default=None, max_length=4000)
    history: tuple[model.BackendHistoryEntry, ...] | None = Field(
        default=None, max_length=model.MAX_BACKEND_HISTORY,
        description="The backend's own history of the job (oldest first), when the backend keeps one; the newest "
        "entries only when there are more. Consumers store each entry once however often it is sent.")


class JobKillFailed(Message):
    """The backend did not kill the job; the job keeps running and its owner is told why."""

    routing_key: ClassVar[str] = "job.kill_failed"

    job_id: UUID
    message: str = Field(max_length=4000)


class JobReported(Message):
    """What a running job said of itself through the gateway's callback (token checked by then).

    A hint, not the truth: it moves a job to EXECUTING at once and makes the monitor read the backend now;
    only the backend's own status (JobStatusObserved) ends a job.
    """

    routing_key: ClassVar[str] = "job.reported"
    persistent: ClassVar[bool] = False  # a hint: the monitor's next poll reads the truth anyway

    job_id: UUID
    status: model.DiracStatus
    reported_at: UtcDatetime
    started_at: UtcDatetime | None = None
    ended_at: UtcDatetime | None = None
    exit_code: int | None = None
    message: str = Field(default="", max_length=1000)


class JobPhaseChanged(Message):
    """The catalog moved this job to a new phase; a snapshot of what subscribers need."""

    routing_key: ClassVar[str] = "job.phase_changed"
    schema_version: ClassVar[int] = 2  # 2: attempt, error_type, failure_class
    persistent: ClassVar[bool] = False  # a notification: the monitor resyncs, a WAIT re-reads when it times out
    mandatory: ClassVar[bool] = False  # the monitor binds the final phases only; a WAIT binds while it waits

    job_id: UUID
    owner: str | None
    workflow: str
    facility: str
    backend: str
    phase: model.Phase
    previous_phase: model.Phase | None
    backend_job_id: str | None = None
    dirac_status: model.DiracStatus | None = None
    changed_at: UtcDatetime
    attempt: int = Field(default=1, ge=1, description="The job's attempt (more than 1 after automatic retries).")
    error_type: model.ErrorType | None = Field(default=None, description="The UWS error type, when the job failed.")
    failure_class: model.FailureClass | None = Field(
        default=None, description="How the failure that ended the job (or the attempt) is classed.")

    def routing_key_for(self) -> str:
        """Subscribers bind ``job.phase_changed.<PHASE>`` or ``job.phase_changed.*``."""
        return f"{self.routing_key}.{self.phase.value}"


class CommandRefusal(StrEnum):
    """Why the catalog did not apply a command."""

    UNKNOWN_JOB = "unknown_job"  # no such job (never made, or deleted)
    NOT_OWNER = "not_owner"
    FINAL = "final"  # the job has ended
    NOT_APPLICABLE = "not_applicable"  # not in the job's phase (RUN of a job no longer PENDING, say)


class CommandSettled(Message):
    """The catalog's answer to a command a client's request made (CreateJob, RunJob, AbortJob, UpdateJob,
    DeleteJob), once its transaction committed: applied (a duplicate counts: it was applied before), or refused and
    why. The gateway answers the request on it (its 303, or the refusal), so the redirect's target shows the change."""

    routing_key: ClassVar[str] = "command.settled"
    persistent: ClassVar[bool] = False  # a hint: a gateway that misses it answers at its bound
    mandatory: ClassVar[bool] = False  # no gateway may be listening

    command_id: UUID
    """The command's message_id."""
    command: str = Field(max_length=64)
    """The command's type name."""
    job_id: UUID
    applied: bool
    refusal: CommandRefusal | None = None
    phase: model.Phase | None = None
    """The job's phase once the command was settled; None when there is no such job (unknown, or deleted)."""


EVENTS_INTO_CATALOG: tuple[type[Message], ...] = (
    JobSubmitted, JobSubmissionFailed, JobStatusObserved, JobKillFailed, JobReported,
)
"""The events the catalog consumes, in the order the registry and the topology list them."""

EVENTS_OUT_OF_CATALOG: tuple[type[Message], ...] = (JobPhaseChanged, CommandSettled)
"""The events the catalog publishes."""

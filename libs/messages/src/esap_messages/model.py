"""Value types carried inside messages: phases, DIRAC statuses, results, the work to run.

The sets of phases and of statuses the services reason with are named here, once, beside the enums.

Depends on pydantic (and the envelope's time type) only.
"""

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from esap_messages.base import UtcDatetime


class Phase(StrEnum):
    """UWS 1.1 execution phases."""

    PENDING = "PENDING"
    QUEUED = "QUEUED"
    EXECUTING = "EXECUTING"
    COMPLETED = "COMPLETED"
    ERROR = "ERROR"
    ABORTED = "ABORTED"
    UNKNOWN = "UNKNOWN"
    HELD = "HELD"
    SUSPENDED = "SUSPENDED"
    ARCHIVED = "ARCHIVED"


FINAL_PHASES = frozenset({Phase.COMPLETED, Phase.ERROR, Phase.ABORTED, Phase.ARCHIVED})
"""Phases a job has ended in: it moves no more, but to ARCHIVED when its destruction time passes."""

ACTIVE_PHASES = frozenset({Phase.QUEUED, Phase.EXECUTING, Phase.UNKNOWN, Phase.HELD, Phase.SUSPENDED})
"""Phases in which a job may have a backend job: an abort or a destruction sends KillJob."""

BACKEND_PHASES = frozenset({Phase.QUEUED, Phase.EXECUTING})
"""Phases in which the job is in its backend's hands: the monitor polls it, and the backend's observations (and
the job's own reports) may move it."""

WAITABLE_PHASES = frozenset({Phase.PENDING, Phase.QUEUED, Phase.EXECUTING})
"""Phases a WAIT blocks in (UWS 1.1 section 2.2.3.2)."""

DEFAULT_LISTED_PHASES = tuple(p for p in Phase if p is not Phase.ARCHIVED)
"""Phases a job list shows when the request names none: ARCHIVED jobs only when asked for (UWS 1.1)."""


class DiracStatus(StrEnum):
    """DIRAC's job statuses (JobStatus in DIRAC and DiracX); the local executor speaks them too."""

    SUBMITTING = "Submitting"
    RECEIVED = "Received"
    CHECKING = "Checking"
    SCOUTING = "Scouting"
    STAGING = "Staging"
    WAITING = "Waiting"
    MATCHED = "Matched"
    RESCHEDULED = "Rescheduled"
    RUNNING = "Running"
    STALLED = "Stalled"
    COMPLETING = "Completing"
    COMPLETED = "Completed"
    DONE = "Done"
    FAILED = "Failed"
    KILLED = "Killed"
    DELETED = "Deleted"


FINAL_STATUSES = frozenset({DiracStatus.DONE, DiracStatus.FAILED, DiracStatus.KILLED, DiracStatus.DELETED})
"""Statuses after which a backend changes the job no more; each maps to a final phase (the catalog's table)."""

RESULT_STATUSES = frozenset({DiracStatus.DONE, DiracStatus.FAILED})
"""Ends that leave an output sandbox to collect (a failed payload's stdout and stderr say why it failed)."""

CALLBACK_END_STATUSES = FINAL_STATUSES - {DiracStatus.DELETED}
"""Statuses by which a job's own callback says it ended; such a report consumes the job's callback token.
Deleted is the backend's record that it removed a job, never a job's word about itself: a callback naming it
is taken as a hint like any other, and leaves the token in place."""


class StatusSource(StrEnum):
    """Who observed a status: the monitor polling the backend, the job's own callback, or the submitter."""

    MONITOR = "monitor"
    CALLBACK = "callback"
    SUBMITTER = "submitter"


class ErrorType(StrEnum):
    """UWS errorSummary types."""

    TRANSIENT = "transient"
    FATAL = "fatal"


class FailureClass(StrEnum):
    """Why a job failed on its backend, as ``esap_messages.failures.classify`` classes it: a transient failure
    (the node or site lost the job) is retried; fatal (the payload failed), usage (bad parameters) and timeout
    (execution duration exceeded) are not."""

    TRANSIENT = "transient"
    FATAL = "fatal"
    USAGE = "usage"
    TIMEOUT = "timeout"


ResultName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
"""A result's identifier: a plain file name, never a path."""


class ResultFile(BaseModel):
    """One result of a job as its backend keeps it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ResultName
    size: int = Field(ge=0)
    mime_type: str = Field(max_length=255)
    location: str = Field(max_length=2048, description="Where the backend keeps it, e.g. file:///... .")


MAX_BACKEND_HISTORY = 200
"""Most backend history entries one observation carries (the newest ones)."""


class BackendHistoryEntry(BaseModel):
    """One line of a job's history as its backend logs it (DIRAC's logging info): a status it took, when, and
    who set it. The status stays a string: the history is the backend's record, including statuses this
    version does not know."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    status: str = Field(max_length=64)
    minor_status: str = Field(default="", max_length=512)
    application_status: str = Field(default="", max_length=512)
    at: UtcDatetime = Field(description="When the backend recorded it (DIRAC's StatusTime).")
    source: str = Field(default="", max_length=128, description="Who set it (DIRAC's Source), e.g. JobWrapper.")


class OutputFile(BaseModel):
    """An output a workflow declares; kept as a result when the job made it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ResultName
    mime_type: str = "application/octet-stream"


class WorkflowRun(BaseModel):
    """What a backend needs to run one workflow: the command template, files to ship, outputs to keep."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    slug: str
    command: tuple[str, ...] = Field(min_length=1, description="argv; {Name} is replaced by parameter Name.")
    files: tuple[str, ...] = Field(default=(), description="Files of the workflow directory to ship along.")
    outputs: tuple[OutputFile, ...] = ()


class ContainerEngine(StrEnum):
    """The engines a workflow's container may name (a plain process names none)."""

    DOCKER = "docker"
    SINGULARITY = "singularity"
    APPTAINER = "apptainer"


class ContainerRuntime(BaseModel):
    """The container a workflow runs in: the engine it was built for and its image, as the catalogue has them.

    A backend decides how to run it (a facility may run a Docker image with Apptainer) or refuses it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    engine: ContainerEngine
    image: str = Field(min_length=1, max_length=1024, description="Container image, e.g. docker://... for "
                       "Singularity or Apptainer.")

"""Value types carried inside messages: phases, DIRAC statuses, results, the work to run.

Depends on pydantic only.
"""

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints


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
ACTIVE_PHASES = frozenset({Phase.QUEUED, Phase.EXECUTING, Phase.UNKNOWN, Phase.HELD, Phase.SUSPENDED})


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


class StatusSource(StrEnum):
    """Who observed a status: the monitor polling the backend, the job's own callback, or the submitter."""

    MONITOR = "monitor"
    CALLBACK = "callback"
    SUBMITTER = "submitter"


class ErrorType(StrEnum):
    """UWS errorSummary types."""

    TRANSIENT = "transient"
    FATAL = "fatal"


ResultName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")]
"""A result's identifier: a plain file name, never a path."""


class ResultFile(BaseModel):
    """One result of a job as its backend keeps it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ResultName
    size: int = Field(ge=0)
    mime_type: str = Field(max_length=255)
    location: str = Field(max_length=2048, description="Where the backend keeps it, e.g. file:///... .")


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

"""Domain objects of the catalog (the service): a job, its backend's view, its error, and what the catalogue (the
workflows and facilities jobs may name) offers.

Immutable values, changed with ``dataclasses.replace`` by the state machine. They carry no database rows and
no wire formats; storage converts rows to them and the services convert them to API views.
Depends on esap_messages' value types (and its Message base, for the catalog's own DestroyJob) only.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar
from uuid import UUID

from esap_messages import DiracStatus, ErrorType, FailureClass, Message, Phase, ResultFile, WorkflowRun
from esap_messages.model import ContainerRuntime

DEFAULT_MAX_RETRIES = 2
"""A facility's automatic retries after a transient failure, when its definition names none."""


@dataclass(frozen=True, slots=True)
class ErrorSummary:
    """UWS errorSummary: fatal when the job failed, transient when something may work on a second try."""

    type: ErrorType
    message: str
    failure_class: FailureClass | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """An earlier attempt of a job, ended by a transient failure and retried: what it was and why it ended."""

    number: int
    backend_job_id: str | None
    start_time: datetime | None
    end_time: datetime | None
    failure_class: FailureClass
    message: str


@dataclass(frozen=True, slots=True)
class DiracState:
    """The backend's own status of the job, and when it was observed."""

    status: DiracStatus | None = None
    minor_status: str = ""
    application_status: str = ""
    site: str = ""
    observed_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Job:
    job_id: UUID
    owner: str | None
    run_id: str | None
    workflow: str
    facility: str
    backend: str
    parameters: Mapping[str, str]
    phase: Phase
    creation_time: datetime
    updated_at: datetime
    start_time: datetime | None = None
    end_time: datetime | None = None
    execution_duration: int = 0
    destruction: datetime | None = None
    backend_job_id: str | None = None
    dirac: DiracState = field(default_factory=DiracState)
    error: ErrorSummary | None = None
    callback_token_hash: bytes | None = None
    abort_requested_at: datetime | None = None
    quote: datetime | None = None
    parent_id: UUID | None = None
    """The campaign this job is a child of."""
    swept: Mapping[str, str] | None = None
    """A child's own values of the swept parameters (its ``parameters`` include them)."""
    children: int = 0
    """A campaign's number of children; 0 for every other job."""
    resubmit_of: UUID | None = None
    """The job this one runs again."""
    attempt: int = 1
    """The current attempt: 1, and one more per automatic retry."""
    attempts: tuple[Attempt, ...] = ()
    """The earlier attempts, oldest first."""
    notify: tuple[str, ...] = ()
    """NOTIFY targets, told once when the job reaches a final phase (never set on a campaign's child)."""
    held: str | None = None
    """Set on a QUEUED job not handed to its backend yet, and why (its owner is at quota, its facility has no free
    slot): the dispatcher (domain.dispatch) hands it over as room frees. None for every other job."""

    def superseded(self, backend_job_id: str | None) -> bool:
        """Whether ``backend_job_id`` is an earlier attempt's backend job (so what is seen of it is late)."""
        return backend_job_id is not None and any(a.backend_job_id == backend_job_id for a in self.attempts)


@dataclass(frozen=True, slots=True)
class PhaseChange:
    """One line of a job's phase history."""

    job_id: UUID
    phase: Phase
    previous_phase: Phase | None
    at: datetime
    source: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class WorkflowSpec:
    """What the state machine needs of a workflow: how to run it, in which container, its parameter defaults."""

    slug: str
    run: WorkflowRun
    defaults: Mapping[str, str]
    facility_types: tuple[str, ...]
    runtime: ContainerRuntime | None = None
    """None: the workflow names no container (a plain process)."""


@dataclass(frozen=True, slots=True)
class FacilitySpec:
    """What the state machine needs of a facility: its backend kind and its type."""

    slug: str
    backend: str
    facility_type: str
    max_retries: int = DEFAULT_MAX_RETRIES
    """Automatic retries after a transient failure."""
    max_parallel: int = 0
    """Most of its jobs handed to it at once (QUEUED there or EXECUTING); 0: no limit."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one message for one job: its new state and everything the change implies.

    ``job`` is None only when the message concerned no job (an event for an unknown job). ``ignored`` names why
    nothing changed, from a small set: duplicate, unknown_job, not_applicable, stale, final.
    """

    job: Job | None
    created: bool = False
    changed: bool = False
    history: tuple[PhaseChange, ...] = ()
    outbox: tuple[Message, ...] = ()
    results: tuple[ResultFile, ...] | None = None
    ignored: str | None = None
    deleted: bool = False
    """The job's row goes: DELETE by its owner, or a destruction that removes rather than archives."""


class DestroyJob(Message):
    """The catalog's own command, never on the bus: the job's destruction time has passed.

    The destruction sweeper hands these to the ingest service, so that a destruction is applied like any
    other message (locked row, state machine, history, JobPhaseChanged). ``remove`` deletes the job instead of
    archiving it.
    """

    routing_key: ClassVar[str] = "catalog.destroy_job"

    job_id: UUID
    remove: bool = False

"""The HTTP contracts between services: the catalog's internal read API and the job callback.

Shared so that the catalog (which serves them) and the gateway and monitor (which call them) cannot drift.
Depends on pydantic only.
"""

from collections.abc import Mapping
from types import MappingProxyType
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from esap_messages.base import UtcDatetime
from esap_messages.catalogue import (
    PARAMETER_NAME_PATTERN,
    ExecutionPlan,
    FacilityList,
    FacilityMatches,
    FacilityStatistics,
    FacilityView,
    Offer,
    ParameterType,
    ParameterView,
    PlanningStatistics,
    Refusal,
    RuntimeEngine,
    RuntimeView,
    WorkflowList,
    WorkflowMatches,
    WorkflowView,
)
from esap_messages.model import BackendHistoryEntry, DiracStatus, ErrorType, FailureClass, OutputFile, Phase


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ResultView(_View):
    id: str
    size: int | None = Field(default=None, ge=0, description="Bytes; None when only known once made (a table "
                             "of a campaign's children).")
    mime_type: str
    location: str


class DiracView(_View):
    """The backend's own view of the job (UWS jobInfo)."""

    status: DiracStatus | None = None
    minor_status: str = ""
    application_status: str = ""
    site: str = ""


class ErrorView(_View):
    type: ErrorType
    message: str
    failure_class: FailureClass | None = Field(
        default=None, description="transient, fatal, usage or timeout (esap_messages.failures.classify).")


class AttemptView(_View):
    """One earlier attempt of a job that was retried automatically after a transient failure."""

    number: int
    backend_job_id: str | None
    start_time: UtcDatetime | None
    end_time: UtcDatetime | None
    failure_class: FailureClass
    message: str


class PhaseEntry(_View):
    phase: Phase
    at: UtcDatetime
    source: str
    detail: str = ""


class _JobHeading(_View):
    """What a job list and a job's own page both open with (pydantic puts these fields first)."""

    job_id: UUID
    run_id: str | None
    owner: str | None
    phase: Phase
    workflow: str
    facility: str


class JobSummaryView(_JobHeading):
    creation_time: UtcDatetime
    parent_id: UUID | None = Field(default=None, description="The campaign this job is a child of.")
    children: int = Field(default=0, ge=0, description="A campaign's number of children; 0 for a single job.")


class ChildrenView(_View):
    """A campaign's children at a glance."""

    total: int = Field(ge=0)
    phases: dict[Phase, int] = Field(description="How many children are in each phase (phases with none left out).")
    submitted: int = Field(ge=0, description="Children handed to their backend (with a backend job id).")


class ChildView(_View):
    """One line of a campaign's table of children."""

    job_id: UUID
    swept: dict[str, str]
    phase: Phase
    attempts: int = Field(default=1, ge=1, description="Times the child was handed to its backend.")
    results: list[str] = Field(default_factory=list, description="The ids of the child's results.")


CAMPAIGN_TABLES: Mapping[str, str] = MappingProxyType({"children.csv": "text/csv", "children.json": "application/json"})
"""A campaign's results, by id, with their media types: the table of its children the gateway makes when asked."""


class ChildList(_View):
    children: list[ChildView]
    total: int | None = Field(default=None, ge=0, description="Children of the campaign in all (this is a page of "
                              "them from ``offset``); None: the list is all of them.")
    offset: int = Field(default=0, ge=0)


class NotificationView(_View):
    """One NOTIFY target of a job and how its delivery stands."""

    target: str
    state: str = Field(description="waiting (the job has not ended), pending (not tried yet, or trying), "
                       "delivered, failing (tried and failed: tried again later), failed (given up or refused).")
    attempts: int = 0
    last_error: str | None = None
    delivered_at: UtcDatetime | None = None
    next_attempt_at: UtcDatetime | None = None


class JobView(_JobHeading):
    backend: str
    parameters: dict[str, str]
    creation_time: UtcDatetime
    start_time: UtcDatetime | None
    end_time: UtcDatetime | None
    execution_duration: int
    destruction: UtcDatetime | None
    quote: UtcDatetime | None = None
    backend_job_id: str | None
    dirac: DiracView
    error: ErrorView | None
    results: list[ResultView]
    history: list[PhaseEntry]
    backend_history: list[BackendHistoryEntry] = Field(
        default_factory=list, description="The backend's own history of the job (DIRAC's logging info), oldest first.")
    abort_requested_at: UtcDatetime | None = Field(
        default=None, description="When an abort of the running job was asked for, while the backend has not "
        "confirmed it yet (the job is still QUEUED or EXECUTING).")
    parent_id: UUID | None = Field(default=None, description="The campaign this job is a child of.")
    swept: dict[str, str] = Field(default_factory=dict, description="A child's own values of the swept parameters.")
    children: ChildrenView | None = Field(default=None, description="Set on a campaign (a parent job).")
    resubmit_of: UUID | None = Field(default=None, description="The job this one runs again (with changes).")
    attempts: int = Field(default=1, description="How many times the job was handed to its backend (1, and one "
                          "more per automatic retry).")
    past_attempts: list[AttemptView] = Field(
        default_factory=list, description="The earlier attempts, oldest first: each ended by a transient failure.")
    notifications: list[NotificationView] = Field(
        default_factory=list, description="Each NOTIFY target and its delivery, in the order given.")
    waiting: str | None = Field(
        default=None, description="Set while the job is QUEUED in esap-batch, not yet handed to its backend, and "
        "why: its owner is at quota (`waiting for quota: 1000 of 1000 active`) or its facility has no free slot.")


class JobList(_View):
    jobs: list[JobSummaryView]
    next_cursor: str | None = Field(
        default=None, description="Opaque; pass it as ``cursor`` for the next page. None on the last page."
    )


class UsageView(_View):
    """One owner's use of the quota on active jobs (QUEUED at a backend, or EXECUTING; a campaign's children count,
    its parent does not)."""

    owner: str
    active: int = Field(description="Jobs handed to their backend and not ended.")
    waiting: int = Field(description="QUEUED jobs held in esap-batch (owner at quota, or facility full).")
    quota: int = Field(description="Most active jobs the owner may have at once.")


class ActiveJob(_View):
    """What the monitor needs to poll one job."""

    job_id: UUID
    facility: str
    backend: str
    backend_job_id: str
    phase: Phase
    dirac_status: DiracStatus | None


class ActiveJobList(_View):
    jobs: list[ActiveJob]


class CallbackVerification(_View):
    """Gateway -> catalog: is this token the job's, and is the job still running? ``final`` consumes it."""

    job_id: UUID
    token: str = Field(min_length=16, max_length=256)
    final: bool = False


class CallbackVerified(_View):
    job_id: UUID
    phase: Phase
    dirac_status: DiracStatus | None = Field(
        default=None, description="The backend status the catalog knows: a report of it again is no news.")


MAX_JOB_READS = 500
"""Most reads in one JobReadBatch."""


class JobRead(_View):
    """One job, read for ``owner`` (None: an anonymous job's reader)."""

    job_id: UUID
    owner: str | None = None


class JobReadBatch(_View):
    """Many job reads in one request: the gateway coalesces the reads that come together (a burst of WAITs woken
    by one catalog batch, many clients polling)."""

    items: list[JobRead] = Field(min_length=1, max_length=MAX_JOB_READS)


class JobReadOutcome(_View):
    """One answer of a JobReadBatch, in the order of the request: the job, or nothing when unknown; ``foreign``
    (and no job) when it belongs to someone other than the reader."""

    job: JobView | None = None
    foreign: bool = False


class JobReadOutcomes(_View):
    outcomes: list[JobReadOutcome]


MAX_VERIFICATIONS = 1000
"""Most verifications in one CallbackVerificationBatch."""


class CallbackVerificationBatch(_View):
    """Many verifications in one request: the gateway coalesces the callbacks that arrive together."""

    items: list[CallbackVerification] = Field(min_length=1, max_length=MAX_VERIFICATIONS)


class CallbackVerdict(_View):
    """One answer of a batch, in the order of the request: ``phase`` (and the backend status the catalog knows)
    when accepted, ``reason`` when not; ``ended`` when refused only because the job had ended (the token was
    right: the report came late)."""

    job_id: UUID
    accepted: bool
    phase: Phase | None = None
    dirac_status: DiracStatus | None = None
    reason: str = ""
    ended: bool = False


class CallbackVerdicts(_View):
    verdicts: list[CallbackVerdict]


class CallbackReport(_View):
    """What a running job POSTs to ``/uws/jobs/{id}/callback`` with ``Authorization: Bearer <token>``."""

    status: DiracStatus = Field(description="Running when it starts; Done or Failed when it ends.")
    started_at: UtcDatetime | None = None
    ended_at: UtcDatetime | None = None
    exit_code: int | None = None
    message: str = Field(default="", max_length=1000)


class JobCallback(_View):
    """One report of a batch POSTed to ``/uws/callbacks``: the job, its callback token, and the report."""

    job_id: UUID
    token: str = Field(min_length=16, max_length=256)
    report: CallbackReport


class CallbackBatch(_View):
    """Reports of many jobs in one request, each checked against its own job's token (the local executor sends
    its jobs' reports this way). A job's reports are taken in the order given."""

    reports: list[JobCallback] = Field(min_length=1, max_length=1000)


class ReportOutcome(_View):
    """Whether one report of a batch was taken. A refusal does not say why (as for a single callback), except
    ``late``: the token was right and the job had ended before the report came (usual for a local job, whose
    submitter reports its end on the bus at once)."""

    job_id: UUID
    accepted: bool
    late: bool = False


class ReportOutcomes(_View):
    """The answer to a CallbackBatch, one outcome per report, in the order of the request."""

    outcomes: list[ReportOutcome]


__all__ = [
    "MAX_JOB_READS",
    "PARAMETER_NAME_PATTERN",
    "ActiveJob",
    "ActiveJobList",
    "CallbackBatch",
    "CallbackReport",
    "CallbackVerdict",
    "CallbackVerdicts",
    "CallbackVerification",
    "CallbackVerificationBatch",
    "CallbackVerified",
    "DiracView",
    "ErrorView",
    "ExecutionPlan",
    "FacilityList",
    "FacilityMatches",
    "FacilityStatistics",
    "FacilityView",
    "JobCallback",
    "JobList",
    "JobRead",
    "JobReadBatch",
    "JobReadOutcome",
    "JobReadOutcomes",
    "JobSummaryView",
    "JobView",
    "Offer",
    "OutputFile",
    "ParameterType",
    "ParameterView",
    "PhaseEntry",
    "PlanningStatistics",
    "Refusal",
    "ReportOutcome",
    "ReportOutcomes",
    "ResultView",
    "RuntimeEngine",
    "RuntimeView",
    "WorkflowList",
    "WorkflowMatches",
    "WorkflowView",
]


class AccountRequest(_View):
    """The gateway to the catalog: the caller's account, made on first use; ``email`` (from the caller's token)
    is stored when given."""

    owner: str = Field(min_length=1, max_length=512)
    email: str | None = Field(default=None, max_length=320)


class AccountNotifyDefaults(_View):
    """The NOTIFY targets a job of this owner gets when its creation names none."""

    owner: str = Field(min_length=1, max_length=512)
    notify: list[str] = Field(default_factory=list, max_length=10)


class AccountUsage(_View):
    active_jobs: int = Field(description="The owner's jobs QUEUED or EXECUTING (campaigns' children included).")


class AccountView(_View):
    owner: str
    email: str | None = None
    webhook_secret: str = Field(description="Signs the owner's webhooks: X-Esap-Signature: sha256=<hex HMAC-SHA256 "
                                "of the body under this secret>.")
    notify: list[str] = Field(default_factory=list, description="Default NOTIFY targets of new jobs.")
    quota: dict[str, int] | None = Field(default=None, description="Limits on the owner's use; None: none set.")
    usage: AccountUsage

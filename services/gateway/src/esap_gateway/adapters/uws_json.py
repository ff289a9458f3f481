"""UWS documents as JSON (``Accept: application/json``): the fields of the XML, named as the XML names them.

For the web console and the ESAP GUI. The models are the OpenAPI description of that representation too.
Conversions are named ``to_json_*``. Must not depend on anything but pydantic, esap_messages, the domain's UWS and
result rules and the XML's URLs (adapters.uws_xml); it knows nothing of HTTP or the bus.
"""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from esap_gateway.adapters.uws_xml import job_url, result_url
from esap_gateway.domain.results import listed_results
from esap_messages import WAITABLE_PHASES
from esap_messages.api import ChildrenView, JobList, JobSummaryView, JobView

JSON_MEDIA_TYPE = "application/json"


class _Json(BaseModel):
    model_config = ConfigDict(frozen=True, populate_by_name=True)


class ResultJson(_Json):
    id: str
    href: str
    size: int | None = Field(None, description="Bytes; absent when only known once made (a campaign's tables).")
    mime_type: str = Field(alias="mimeType")


class ErrorSummaryJson(_Json):
    type: str
    message: str
    has_detail: bool = Field(False, alias="hasDetail")
    failure_class: str | None = Field(None, alias="failureClass", description="transient, fatal, usage or timeout.")


class PastAttemptJson(_Json):
    """An earlier attempt of the job, ended by a transient failure and retried automatically."""

    number: int
    backend_job_id: str | None = Field(None, alias="backendJobId")
    start_time: datetime | None = Field(None, alias="startTime")
    end_time: datetime | None = Field(None, alias="endTime")
    failure_class: str = Field(alias="failureClass")
    message: str


class HistoryEntryJson(_Json):
    """One line of the backend's own history of the job (DIRAC's logging info)."""

    time: datetime
    status: str
    minor_status: str = Field("", alias="minorStatus")
    application_status: str = Field("", alias="applicationStatus")
    source: str = ""


class NotificationJson(_Json):
    target: str
    state: str = Field(description="waiting, pending, delivered, failing (tried again later) or failed.")
    attempts: int = 0
    last_error: str | None = Field(None, alias="lastError")
    delivered_at: datetime | None = Field(None, alias="deliveredAt")
    next_attempt_at: datetime | None = Field(None, alias="nextAttemptAt")


class JobInfoJson(_Json):
    workflow: str
    facility: str
    backend_job_id: str | None = Field(None, alias="backendJobId")
    status: str | None = None
    minor_status: str = Field("", alias="minorStatus")
    application_status: str = Field("", alias="applicationStatus")
    site: str = ""
    abort_requested: datetime | None = Field(None, alias="abortRequested", description="When an abort was asked for "
                                             "that the backend has not confirmed yet.")
    history: list[HistoryEntryJson] = Field(default_factory=list, description="The backend's history, oldest first.")
    parent: str | None = Field(None, description="A campaign child's campaign.")
    swept: dict[str, str] = Field(default_factory=dict, description="A campaign child's own swept values.")
    children: ChildrenView | None = Field(None, description="A campaign's children: total, handed to their "
                                          "backend (submitted), and how many in each phase.")
    resubmit_of: str | None = Field(None, alias="resubmitOf", description="The job this one runs again.")
    attempts: int = Field(1, description="Times the job was handed to its backend: 1, and one per automatic retry.")
    past_attempts: list[PastAttemptJson] = Field(default_factory=list, alias="pastAttempts",
                                                 description="The earlier attempts, oldest first.")
    notifications: list[NotificationJson] = Field(default_factory=list, description="Each NOTIFY target and how "
                                                  "its delivery stands.")
    waiting: str | None = Field(None, description="Why a QUEUED job is still held in esap-batch (its owner at "
                                "quota, its facility full); absent once it is handed to its backend.")


class JobJson(_Json):
    version: str = "1.1"
    job_id: str = Field(alias="jobId")
    run_id: str | None = Field(None, alias="runId")
    owner_id: str | None = Field(None, alias="ownerId")
    phase: str
    quote: datetime | None = None
    creation_time: datetime = Field(alias="creationTime")
    start_time: datetime | None = Field(None, alias="startTime")
    end_time: datetime | None = Field(None, alias="endTime")
    execution_duration: int = Field(alias="executionDuration")
    destruction: datetime | None = None
    parameters: dict[str, str]
    results: list[ResultJson]
    error_summary: ErrorSummaryJson | None = Field(None, alias="errorSummary")
    job_info: JobInfoJson = Field(alias="jobInfo")


class JobRefJson(_Json):
    job_id: str = Field(alias="jobId")
    href: str
    phase: str
    run_id: str | None = Field(None, alias="runId")
    owner_id: str | None = Field(None, alias="ownerId")
    creation_time: datetime = Field(alias="creationTime")


class JobsJson(_Json):
    version: str = "1.1"
    jobs: list[JobRefJson]
    next: str | None = Field(None, description="URL of the next page, when there is one.")


def _dump(model: BaseModel) -> bytes:
    return model.model_dump_json(by_alias=True).encode()


def to_json_job(view: JobView, base_url: str) -> bytes:
    error = None if view.error is None else ErrorSummaryJson(
        type=view.error.type.value, message=view.error.message,
        failure_class=view.error.failure_class.value if view.error.failure_class else None)
    info = JobInfoJson(workflow=view.workflow, facility=view.facility, backend_job_id=view.backend_job_id,
                       status=view.dirac.status.value if view.dirac.status else None,
                       minor_status=view.dirac.minor_status, application_status=view.dirac.application_status,
                       site=view.dirac.site,
                       abort_requested=view.abort_requested_at if view.phase in WAITABLE_PHASES else None, history=[
                           HistoryEntryJson(time=e.at, status=e.status, minor_status=e.minor_status,
                                            application_status=e.application_status, source=e.source)
                           for e in view.backend_history],
                       parent=None if view.parent_id is None else str(view.parent_id), swept=view.swept,
                       children=view.children,
                       resubmit_of=None if view.resubmit_of is None else str(view.resubmit_of),
                       attempts=view.attempts, past_attempts=[
                           PastAttemptJson(number=a.number, backend_job_id=a.backend_job_id, start_time=a.start_time,
                                           end_time=a.end_time, failure_class=a.failure_class.value,
                                           message=a.message)
                           for a in view.past_attempts],
                       notifications=[
                           NotificationJson(target=n.target, state=n.state, attempts=n.attempts,
                                            last_error=n.last_error, delivered_at=n.delivered_at,
                                            next_attempt_at=n.next_attempt_at)
                           for n in view.notifications], waiting=view.waiting)
    return _dump(JobJson(
        job_id=str(view.job_id), run_id=view.run_id, owner_id=view.owner, phase=view.phase.value, quote=view.quote,
        creation_time=view.creation_time, start_time=view.start_time, end_time=view.end_time,
        execution_duration=view.execution_duration, destruction=view.destruction, parameters=view.parameters,
        results=[ResultJson(id=r.id, href=result_url(base_url, view.job_id, r.id), size=r.size,
                            mime_type=r.mime_type) for r in listed_results(view.results)],
        error_summary=error, job_info=info,
    ))


def _ref(job: JobSummaryView, base_url: str) -> JobRefJson:
    return JobRefJson(job_id=str(job.job_id), href=job_url(base_url, job.job_id), phase=job.phase.value,
                      run_id=job.run_id, owner_id=job.owner, creation_time=job.creation_time)


def to_json_jobs(page: JobList, base_url: str, next_url: str | None) -> bytes:
    return _dump(JobsJson(jobs=[_ref(j, base_url) for j in page.jobs], next=next_url))

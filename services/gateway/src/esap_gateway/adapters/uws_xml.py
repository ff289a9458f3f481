"""UWS 1.1 XML documents, built with vo-models (pydantic-xml) from the catalog's views; never from templates.
The job list, read most and largest, is built with lxml directly, byte for byte as vo-models would (a test holds
the two side by side): four times cheaper, 0.5 ms of the gateway's CPU for 50 jobs instead of 2.

Conversions are named ``to_uws_*``; each returns the serialised document. Elements the schema makes optional are
left out when empty (the models are serialised with ``exclude_unset``, and only known values are set), while
nillable ones (ownerId, startTime, endTime, destruction) are always present, nil when unknown.
Must not depend on anything but vo-models (pydantic-xml), lxml, esap_messages and the domain's UWS and result
rules; it knows nothing of HTTP or the bus.
"""

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from uuid import UUID

from lxml import etree
from pydantic_xml import BaseXmlModel, attr, element
from vo_models.uws import ErrorSummary, Jobs, JobSummary, Parameter, ResultReference, Results, ShortJobDescription
from vo_models.uws.models import NSMAP
from vo_models.uws.types import ErrorType, ExecutionPhase, UWSVersion

from esap_gateway.domain.results import listed_results
from esap_messages import WAITABLE_PHASES
from esap_messages.api import JobSummaryView, JobView, ResultView

XML_MEDIA_TYPE = "application/xml"
JOBINFO_NAMESPACE = "urn:esap-batch:jobinfo:v1"
"""Our own namespace for the elements inside ``uws:jobInfo``."""


class HistoryEntry(BaseXmlModel, tag="entry", ns="esap", nsmap={"esap": JOBINFO_NAMESPACE}):
    """One line of the backend's own history of the job (DIRAC's logging info)."""

    time: datetime = attr(name="time")
    status: str = attr(name="status")
    minor_status: str = attr(name="minorStatus")
    application_status: str = attr(name="applicationStatus")
    source: str = attr(name="source")


class BackendHistory(BaseXmlModel, tag="history", ns="esap", nsmap={"esap": JOBINFO_NAMESPACE}):
    entries: list[HistoryEntry] = element(tag="entry", ns="esap", default_factory=list)


class SweptValue(BaseXmlModel, tag="value", ns="esap", nsmap={"esap": JOBINFO_NAMESPACE}):
    name: str = attr(name="name")
    value: str


class Swept(BaseXmlModel, tag="swept", ns="esap", nsmap={"esap": JOBINFO_NAMESPACE}):
    """A campaign child's own values of the swept parameters."""

    values: list[SweptValue] = element(tag="value", ns="esap", default_factory=list)


class PhaseCount(BaseXmlModel, tag="count", ns="esap", nsmap={"esap": JOBINFO_NAMESPACE}):
    phase: str = attr(name="phase")
    count: int


class Children(BaseXmlModel, tag="children", ns="esap", nsmap={"esap": JOBINFO_NAMESPACE}):
    """A campaign's children: how many, how many handed to their backend, how many in each phase."""

    total: int = attr(name="total")
    submitted: int = attr(name="submitted")
    counts: list[PhaseCount] = element(tag="count", ns="esap", default_factory=list)
class PastAttempt(BaseXmlModel, tag="attempt", ns="esap", nsmap={"esap": JOBINFO_NAMESPACE}):
    """An earlier attempt of the job, ended by a transient failure and retried automatically."""

    number: int = attr(name="number")
    backend_job_id: str | None = attr(name="backendJobId", default=None)
    start_time: datetime | None = attr(name="startTime", default=None)
    end_time: datetime | None = attr(name="endTime", default=None)
    failure_class: str = attr(name="failureClass")
    message: str = attr(name="message")


class PastAttempts(BaseXmlModel, tag="pastAttempts", ns="esap", nsmap={"esap": JOBINFO_NAMESPACE}):
    attempts: list[PastAttempt] = element(tag="attempt", ns="esap", default_factory=list)


class Notification(BaseXmlModel, tag="notification", ns="esap", nsmap={"esap": JOBINFO_NAMESPACE}):
    """One NOTIFY target and how its delivery stands."""

    target: str = attr(name="target")
    state: str = attr(name="state")
    attempts: int = attr(name="attempts")
    last_error: str | None = attr(name="lastError", default=None)
    delivered_at: datetime | None = attr(name="deliveredAt", default=None)
    next_attempt_at: datetime | None = attr(name="nextAttemptAt", default=None)


class Notifications(BaseXmlModel, tag="notifications", ns="esap", nsmap={"esap": JOBINFO_NAMESPACE}):
    items: list[Notification] = element(tag="notification", ns="esap", default_factory=list)


class JobInfo(BaseXmlModel, tag="jobInfo", ns="uws", nsmap={**NSMAP, "esap": JOBINFO_NAMESPACE}):
    """The backend's view of the job (DIRAC vocabulary), plus where it runs and the backend's history of it; for a
    campaign, its children; for a child, its campaign and its swept values."""

    workflow: str | None = element(tag="workflow", ns="esap", default=None)
    facility: str | None = element(tag="facility", ns="esap", default=None)
    backend_job_id: str | None = element(tag="backendJobId", ns="esap", default=None)
    status: str | None = element(tag="status", ns="esap", default=None)
    minor_status: str | None = element(tag="minorStatus", ns="esap", default=None)
    application_status: str | None = element(tag="applicationStatus", ns="esap", default=None)
    site: str | None = element(tag="site", ns="esap", default=None)
    abort_requested: datetime | None = element(tag="abortRequested", ns="esap", default=None)
    history: BackendHistory | None = element(tag="history", ns="esap", default=None)
    parent: str | None = element(tag="parent", ns="esap", default=None)
    swept: Swept | None = element(tag="swept", ns="esap", default=None)
    children: Children | None = element(tag="children", ns="esap", default=None)
    resubmit_of: str | None = element(tag="resubmitOf", ns="esap", default=None)
    failure_class: str | None = element(tag="failureClass", ns="esap", default=None)
    attempts: int | None = element(tag="attempts", ns="esap", default=None)
    past_attempts: PastAttempts | None = element(tag="pastAttempts", ns="esap", default=None)
    notifications: Notifications | None = element(tag="notifications", ns="esap", default=None)
    waiting: str | None = element(tag="waiting", ns="esap", default=None)


class JobParameters(BaseXmlModel, tag="parameters", ns="uws", nsmap=NSMAP):
    """``uws:parameters`` as a plain list: a workflow's parameter names are known only at run time."""

    parameter: list[Parameter] = element(tag="parameter", default_factory=list)


class UwsJob(JobSummary[JobParameters], tag="job"):
    """``uws:job`` whose jobInfo holds typed elements in our namespace."""

    job_info: JobInfo | None = element(tag="jobInfo", default=None)  # type: ignore[assignment]


def job_url(base_url: str, job_id: UUID) -> str:
    return f"{base_url}/uws/jobs/{job_id}"


def result_url(base_url: str, job_id: UUID, result_id: str) -> str:
    return f"{job_url(base_url, job_id)}/results/{quote(result_id, safe='')}"


def to_uws_job(view: JobView, base_url: str) -> bytes:
    fields: dict[str, Any] = {
        "version": UWSVersion.V1_1,
        "job_id": str(view.job_id),
        "owner_id": view.owner,
        "phase": ExecutionPhase(view.phase.value),
        "creation_time": view.creation_time,
        "start_time": view.start_time,
        "end_time": view.end_time,
        "execution_duration": view.execution_duration,
        "destruction": view.destruction,
        "parameters": _parameters(view),
        "results": _results(view, base_url),
        "job_info": _job_info(view),
    }
    if view.run_id is not None:
        fields["run_id"] = view.run_id
    if view.quote is not None:
        fields["quote"] = view.quote
    if view.error is not None:
        fields["error_summary"] = ErrorSummary(message=view.error.message, type=ErrorType(view.error.type.value),
                                               has_detail=False)
    return _serialise(UwsJob(**fields))


def to_uws_jobs(jobs: list[JobSummaryView], base_url: str) -> bytes:
    root = etree.Element(_UWS_JOBS, nsmap=NSMAP)
    root.set("version", UWSVersion.V1_1.value)
    sub = etree.SubElement
    for job in jobs:
        job_id = str(job.job_id)
        ref = sub(root, _UWS_JOBREF, {"id": job_id, _XLINK_HREF: f"{base_url}/uws/jobs/{job_id}"})
        sub(ref, _UWS_PHASE).text = job.phase.value
        if job.run_id is not None:
            sub(ref, _UWS_RUN_ID).text = job.run_id
        owner = sub(ref, _UWS_OWNER_ID)
        if job.owner is None:
            owner.set(_XSI_NIL, "true")
            owner.text = ""
        else:
            owner.text = job.owner
        sub(ref, _UWS_CREATION_TIME).text = _timestamp(job.creation_time)
    xml: bytes = etree.tostring(root, encoding="UTF-8", xml_declaration=True)
    return xml


def to_uws_jobs_by_models(jobs: list[JobSummaryView], base_url: str) -> bytes:
    """The job list as vo-models builds it: what ``to_uws_jobs`` must equal."""
    refs = [_job_ref(job, base_url) for job in jobs]
    return _serialise(Jobs(version=UWSVersion.V1_1, jobref=refs))


_UWS_JOBS, _UWS_JOBREF, _UWS_PHASE, _UWS_RUN_ID, _UWS_OWNER_ID, _UWS_CREATION_TIME = (
    f"{{{NSMAP['uws']}}}{name}" for name in ("jobs", "jobref", "phase", "runId", "ownerId", "creationTime"))
_XLINK_HREF = f"{{{NSMAP['xlink']}}}href"
_XSI_NIL = f"{{{NSMAP['xsi']}}}nil"


def _timestamp(moment: datetime) -> str:
    """As vo-models writes an xs:dateTime: UTC, milliseconds, 'Z'."""
    utc = moment.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def to_uws_results(view: JobView, base_url: str) -> bytes:
    return _serialise(_results(view, base_url))


def to_uws_parameters(view: JobView) -> bytes:
    return _serialise(_parameters(view))


def _parameters(view: JobView) -> JobParameters:
    return JobParameters(parameter=[Parameter(id=k, value=v) for k, v in view.parameters.items()])


def _job_ref(job: JobSummaryView, base_url: str) -> ShortJobDescription:
    fields: dict[str, Any] = {
        "job_id": str(job.job_id),
        "href": job_url(base_url, job.job_id),
        "phase": ExecutionPhase(job.phase.value),
        "owner_id": job.owner,
        "creation_time": job.creation_time,
    }
    if job.run_id is not None:
        fields["run_id"] = job.run_id
    return ShortJobDescription(**fields)


def _results(view: JobView, base_url: str) -> Results:
    return Results(results=[_result(view.job_id, r, base_url) for r in listed_results(view.results)])


def _result(job_id: UUID, result: ResultView, base_url: str) -> ResultReference:
    return ResultReference(id=result.id, href=result_url(base_url, job_id, result.id), size=result.size,
                           mime_type=result.mime_type)


def _job_info(view: JobView) -> JobInfo:
    known: dict[str, Any] = {"workflow": view.workflow, "facility": view.facility}
    if view.backend_job_id:
        known["backend_job_id"] = view.backend_job_id
    if view.dirac.status is not None:
        known["status"] = view.dirac.status.value
    for name in ("minor_status", "application_status", "site"):
        value = getattr(view.dirac, name)
        if value:
            known[name] = value
    if view.abort_requested_at is not None and view.phase in WAITABLE_PHASES:
        known["abort_requested"] = view.abort_requested_at
    if view.backend_history:
        known["history"] = BackendHistory(entries=[
            HistoryEntry(time=e.at, status=e.status, minor_status=e.minor_status,
                         application_status=e.application_status, source=e.source) for e in view.backend_history])
    if view.parent_id is not None:
        known["parent"] = str(view.parent_id)
        known["swept"] = Swept(values=[SweptValue(name=k, value=v) for k, v in view.swept.items()])
    if view.children is not None:
        known["children"] = Children(
            total=view.children.total, submitted=view.children.submitted,
            counts=[PhaseCount(phase=p.value, count=n) for p, n in sorted(view.children.phases.items())])
    if view.resubmit_of is not None:
        known["resubmit_of"] = str(view.resubmit_of)
    if view.error is not None and view.error.failure_class is not None:
        known["failure_class"] = view.error.failure_class.value
    known["attempts"] = view.attempts
    if view.waiting is not None:
        known["waiting"] = view.waiting
    if view.past_attempts:
        known["past_attempts"] = PastAttempts(attempts=[
            PastAttempt(number=a.number, backend_job_id=a.backend_job_id, start_time=a.start_time,
                        end_time=a.end_time, failure_class=a.failure_class.value, message=a.message)
            for a in view.past_attempts])
    if view.notifications:
        known["notifications"] = Notifications(items=[
            Notification(target=n.target, state=n.state, attempts=n.attempts, last_error=n.last_error,
                         delivered_at=n.delivered_at, next_attempt_at=n.next_attempt_at)
            for n in view.notifications])
    return JobInfo(**known)


def _serialise(document: BaseXmlModel) -> bytes:
    xml = document.to_xml(exclude_unset=True, encoding="UTF-8", xml_declaration=True)
    assert isinstance(xml, bytes)
    return xml

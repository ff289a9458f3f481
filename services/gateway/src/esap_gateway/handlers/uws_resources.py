"""The resources of one UWS job: phase, executionduration, destruction, error, quote, results (and each
result's content), parameters, owner. Routes only; the rules are in ``services.jobs``.

The plain-text resources (executionduration, destruction, error, quote, owner) are one shape, a value of the job
read as text and, for the two a client may change, a form field posted; they are registered by two functions
rather than written out route by route. Must not depend on a concrete client or hold a rule: each route parses,
makes one call, maps the answer.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar
from uuid import UUID

from fastapi import APIRouter, Depends, Response
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse

from esap_gateway.adapters.uws_xml import XML_MEDIA_TYPE, to_uws_parameters, to_uws_results
from esap_gateway.domain.uws import Pairs, parse_destruction, parse_execution_duration
from esap_gateway.handlers.dependencies import BaseUrl, CallerDep, Jobs, Owner, RedirectBase
from esap_gateway.handlers.representations import CREATION_FIELDS, ERRORS, TEXT, form
from esap_gateway.handlers.requests import Again, JobId, NewParameters, NewPhase, parsed_form
from esap_gateway.services.jobs import JobService
from esap_messages.api import JobView

router = APIRouter(prefix="/uws/jobs/{job_id}", tags=["uws"], responses=ERRORS)
T = TypeVar("T")


def _to_job(redirect: str, job_id: object) -> RedirectResponse:
    return RedirectResponse(f"{redirect}/uws/jobs/{job_id}", status_code=303)


def _text(value: object | None) -> PlainTextResponse:
    if value is None:
        return PlainTextResponse("")
    isoformat = getattr(value, "isoformat", None)
    return PlainTextResponse(isoformat().replace("+00:00", "Z") if isoformat else str(value))


@router.get("/phase", summary="The job's phase, as text", responses=TEXT)
async def get_phase(job_id: JobId, owner: Owner, jobs: Jobs) -> PlainTextResponse:
    return PlainTextResponse((await jobs.phase(job_id, owner)).value)


@router.post("/phase", status_code=303, summary="PHASE=RUN (a PENDING job) or PHASE=ABORT",
             openapi_extra=form({"PHASE": {"type": "string", "enum": ["RUN", "ABORT"]}}, required=("PHASE",)))
async def post_phase(job_id: JobId, action: NewPhase, owner: Owner, jobs: Jobs,
                     redirect: RedirectBase) -> RedirectResponse:
    return _to_job(redirect, await jobs.change_phase(job_id, action, owner))


@router.post("/resubmit", status_code=303,
             summary="Run the job again as a new job, with changes: FACILITY, EXECUTIONDURATION, RUNID, DESTRUCTION, "
             "NOTIFY, PHASE=RUN and workflow parameters override the original's; on a campaign, its children that did "
             "not complete (SCOPE=all: every child). Answers 303 to the new job, whose jobInfo names the original",
             openapi_extra=form({"PHASE": {"type": "string", "enum": ["RUN"]},
                                 "SCOPE": {"type": "string", "enum": ["unfinished", "all"]},
                                 "FACILITY": {"type": "string"}, "EXECUTIONDURATION": {"type": "integer"}},
                                parameters=True))
async def post_resubmit(job_id: JobId, again: Again, caller: CallerDep, jobs: Jobs,
                        redirect: RedirectBase) -> RedirectResponse:
    return _to_job(redirect, await jobs.resubmit(job_id, again, caller.owner, caller.email))


def _text_resource(path: str, name: str, summary: str, read: Callable[[JobView], object | None]) -> None:
    """GET ``path``: one value of the job as text, empty when it has none."""
    async def endpoint(job_id: JobId, owner: Owner, jobs: Jobs) -> PlainTextResponse:
        return _text(read(await jobs.view(job_id, owner)))

    router.add_api_route(path, endpoint, methods=["GET"], name=f"get_{name}", summary=summary, responses=TEXT)


def _settable_resource(path: str, name: str, summaries: tuple[str, str], read: Callable[[JobView], object | None],
                       field: str, parse: Callable[[Pairs], T],
                       change: Callable[[JobService, UUID, T, str | None], Awaitable[UUID]]) -> None:
    """GET ``path`` as ``_text_resource``; POST ``path``: the form's ``field``, parsed, changes the job (while
    PENDING: the service's rule), then 303 to the job."""
    _text_resource(path, name, summaries[0], read)

    async def endpoint(job_id: JobId, value: Annotated[T, Depends(parsed_form(parse))], owner: Owner, jobs: Jobs,
                       redirect: RedirectBase) -> RedirectResponse:
        return _to_job(redirect, await change(jobs, job_id, value, owner))

    router.add_api_route(path, endpoint, methods=["POST"], name=f"post_{name}", status_code=303,
                         summary=summaries[1], openapi_extra=form({field: CREATION_FIELDS[field]}, required=(field,)))


# In this order: it is the OpenAPI document's.
_settable_resource("/executionduration", "execution_duration",
                   ("Seconds the job may run; 0 is unlimited", "EXECUTIONDURATION=seconds, while PENDING"),
                   lambda job: job.execution_duration,
                   "EXECUTIONDURATION", parse_execution_duration, JobService.set_execution_duration)
_settable_resource("/destruction", "destruction",
                   ("When the job will be destroyed (ISO 8601, UTC)", "DESTRUCTION=ISO 8601 instant in the future"),
                   lambda job: job.destruction,
                   "DESTRUCTION", parse_destruction, JobService.set_destruction)
_text_resource("/error", "error", "The error summary's message, empty when the job has none",
               lambda job: job.error.message if job.error else None)
_text_resource("/quote", "quote", "When the job is expected to end; empty: not known", lambda job: job.quote)
_text_resource("/owner", "owner", "The job's owner; empty for an anonymous job", lambda job: job.owner)


@router.get("/parameters", summary="The job's parameters (uws:parameters)", response_class=Response)
async def get_parameters(job_id: JobId, owner: Owner, jobs: Jobs) -> Response:
    return Response(to_uws_parameters(await jobs.view(job_id, owner)), media_type=XML_MEDIA_TYPE)


@router.post("/parameters", status_code=303, summary="Change workflow parameters, while PENDING",
             openapi_extra=form({}, parameters=True))
async def post_parameters(job_id: JobId, parameters: NewParameters, owner: Owner, jobs: Jobs,
                          redirect: RedirectBase) -> RedirectResponse:
    return _to_job(redirect, await jobs.set_parameters(job_id, parameters, owner))


@router.get("/results", summary="The job's results (uws:results)", response_class=Response)
async def get_results(job_id: JobId, owner: Owner, jobs: Jobs, base: BaseUrl) -> Response:
    return Response(to_uws_results(await jobs.view(job_id, owner), base), media_type=XML_MEDIA_TYPE)


@router.get("/results/{result_id}", summary="The content of one result")
async def get_result(job_id: JobId, result_id: str, owner: Owner, jobs: Jobs, base: BaseUrl) -> Response:
    content = await jobs.result_content(job_id, result_id, owner, base)
    if content.path is None:
        return Response(content.body, media_type=content.mime_type)
    return FileResponse(content.path, media_type=content.mime_type)

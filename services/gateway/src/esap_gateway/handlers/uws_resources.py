"""The resources of one UWS job: phase, executionduration, destruction, error, quote, results (and each
result's content), parameters, owner. Routes only; the rules are in ``services.jobs``.

Must not depend on a concrete client or hold a rule: each route parses, makes one call, maps the answer.
"""

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse

from esap_gateway.adapters.uws_xml import XML_MEDIA_TYPE, to_uws_parameters, to_uws_results
from esap_gateway.handlers.dependencies import BaseUrl, Jobs, Owner, RedirectBase
from esap_gateway.handlers.representations import ERRORS, TEXT
from esap_gateway.handlers.requests import JobId, NewDestruction, NewExecutionDuration, NewParameters, NewPhase

router = APIRouter(prefix="/uws/jobs/{job_id}", tags=["uws"], responses=ERRORS)


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


@router.post("/phase", status_code=303, summary="PHASE=RUN (a PENDING job) or PHASE=ABORT")
async def post_phase(job_id: JobId, action: NewPhase, owner: Owner, jobs: Jobs,
                     redirect: RedirectBase) -> RedirectResponse:
    return _to_job(redirect, await jobs.change_phase(job_id, action, owner))


@router.get("/executionduration", summary="Seconds the job may run; 0 is unlimited", responses=TEXT)
async def get_execution_duration(job_id: JobId, owner: Owner, jobs: Jobs) -> PlainTextResponse:
    return _text((await jobs.view(job_id, owner)).execution_duration)


@router.post("/executionduration", status_code=303, summary="EXECUTIONDURATION=seconds, while PENDING")
async def post_execution_duration(job_id: JobId, seconds: NewExecutionDuration, owner: Owner, jobs: Jobs,
                                  redirect: RedirectBase) -> RedirectResponse:
    return _to_job(redirect, await jobs.set_execution_duration(job_id, seconds, owner))


@router.get("/destruction", summary="When the job will be destroyed (ISO 8601, UTC)", responses=TEXT)
async def get_destruction(job_id: JobId, owner: Owner, jobs: Jobs) -> PlainTextResponse:
    return _text((await jobs.view(job_id, owner)).destruction)


@router.post("/destruction", status_code=303, summary="DESTRUCTION=ISO 8601 instant in the future")
async def post_destruction(job_id: JobId, destruction: NewDestruction, owner: Owner, jobs: Jobs,
                           redirect: RedirectBase) -> RedirectResponse:
    return _to_job(redirect, await jobs.set_destruction(job_id, destruction, owner))


@router.get("/error", summary="The error summary's message, empty when the job has none", responses=TEXT)
async def get_error(job_id: JobId, owner: Owner, jobs: Jobs) -> PlainTextResponse:
    error = (await jobs.view(job_id, owner)).error
    return _text(error.message if error else None)


@router.get("/quote", summary="When the job is expected to end; empty: not known", responses=TEXT)
async def get_quote(job_id: JobId, owner: Owner, jobs: Jobs) -> PlainTextResponse:
    return _text((await jobs.view(job_id, owner)).quote)


@router.get("/owner", summary="The job's owner; empty for an anonymous job", responses=TEXT)
async def get_owner(job_id: JobId, owner: Owner, jobs: Jobs) -> PlainTextResponse:
    return _text((await jobs.view(job_id, owner)).owner)


@router.get("/parameters", summary="The job's parameters (uws:parameters)", response_class=Response)
async def get_parameters(job_id: JobId, owner: Owner, jobs: Jobs) -> Response:
    return Response(to_uws_parameters(await jobs.view(job_id, owner)), media_type=XML_MEDIA_TYPE)


@router.post("/parameters", status_code=303, summary="Change workflow parameters, while PENDING")
async def post_parameters(job_id: JobId, parameters: NewParameters, owner: Owner, jobs: Jobs,
                          redirect: RedirectBase) -> RedirectResponse:
    return _to_job(redirect, await jobs.set_parameters(job_id, parameters, owner))


@router.get("/results", summary="The job's results (uws:results)", response_class=Response)
async def get_results(job_id: JobId, owner: Owner, jobs: Jobs, base: BaseUrl) -> Response:
    return Response(to_uws_results(await jobs.view(job_id, owner), base), media_type=XML_MEDIA_TYPE)


@router.get("/results/{result_id}", summary="The content of one result")
async def get_result(job_id: JobId, result_id: str, owner: Owner, jobs: Jobs) -> FileResponse:
    content = await jobs.result_content(job_id, result_id, owner)
    return FileResponse(content.path, media_type=content.mime_type)

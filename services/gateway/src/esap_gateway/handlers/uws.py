"""The UWS 1.1 job list at ``/uws/jobs``: routes only; the rules are in ``services.jobs``.

Must not depend on a concrete client or hold a rule: each route parses, makes one call, maps the answer.
"""

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse, PlainTextResponse, RedirectResponse

from esap_gateway.adapters.uws_xml import XML_MEDIA_TYPE, to_uws_job, to_uws_jobs, to_uws_results
from esap_gateway.handlers.dependencies import BaseUrl, Jobs, Owner, RedirectBase
from esap_gateway.handlers.requests import Form, Query

router = APIRouter(prefix="/uws/jobs", tags=["uws"])


def _xml(document: bytes) -> Response:
    return Response(document, media_type=XML_MEDIA_TYPE)


@router.post("", status_code=303, summary="Create a job (form-encoded UWS parameters)")
async def create_job(form: Form, owner: Owner, jobs: Jobs, redirect: RedirectBase) -> RedirectResponse:
    job_id = await jobs.create(form, owner)
    return RedirectResponse(f"{redirect}/uws/jobs/{job_id}", status_code=303)


@router.get("", summary="The job list, filtered by PHASE, AFTER, LAST")
async def list_jobs(query: Query, owner: Owner, jobs: Jobs, base: BaseUrl) -> Response:
    return _xml(to_uws_jobs(await jobs.list(query, owner), base))


@router.get("/{job_id}", summary="One job; WAIT=n blocks until its phase changes")
async def get_job(job_id: str, query: Query, owner: Owner, jobs: Jobs, base: BaseUrl) -> Response:
    return _xml(to_uws_job(await jobs.get(job_id, query, owner), base))


@router.get("/{job_id}/phase", summary="The job's phase, as text")
async def get_phase(job_id: str, owner: Owner, jobs: Jobs) -> PlainTextResponse:
    return PlainTextResponse((await jobs.phase(job_id, owner)).value)


@router.post("/{job_id}/phase", status_code=303, summary="PHASE=RUN or PHASE=ABORT")
async def post_phase(job_id: str, form: Form, owner: Owner, jobs: Jobs,
                     redirect: RedirectBase) -> RedirectResponse:
    job = await jobs.change_phase(job_id, form, owner)
    return RedirectResponse(f"{redirect}/uws/jobs/{job}", status_code=303)


@router.get("/{job_id}/results", summary="The job's results")
async def get_results(job_id: str, owner: Owner, jobs: Jobs, base: BaseUrl) -> Response:
    return _xml(to_uws_results(await jobs.results(job_id, owner), base))


@router.get("/{job_id}/results/{result_id}", summary="The content of one result")
async def get_result(job_id: str, result_id: str, owner: Owner, jobs: Jobs) -> FileResponse:
    content = await jobs.result_content(job_id, result_id, owner)
    return FileResponse(content.path, media_type=content.mime_type)

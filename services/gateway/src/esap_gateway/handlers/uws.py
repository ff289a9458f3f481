"""The UWS 1.1 job list at ``/uws/jobs`` and each job: routes only; the rules are in ``services.jobs``.

XML by default; JSON with ``Accept: application/json``. Must not depend on a concrete client or hold a rule:
each route parses, makes one call, maps the answer.
"""

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from fastapi.routing import APIRoute

from esap_gateway.adapters.uws_json import JobsJson, to_json_job, to_json_jobs
from esap_gateway.adapters.uws_xml import to_uws_job, to_uws_jobs
from esap_gateway.domain.uws import parse_creation
from esap_gateway.handlers.dependencies import (
    BaseUrl,
    Jobs,
    Owner,
    RedirectBase,
    WantsJson,
    get_caller,
    get_factory,
    get_redirect_base,
    next_page_url,
)
from esap_gateway.handlers.representations import (
    CREATE,
    ERRORS,
    JOB_RESPONSES,
    LIST_QUERY,
    WAIT_QUERY,
    document,
    form,
    job_responses,
)
from esap_gateway.handlers.requests import DeleteAction, Filters, JobId, Query, Wait, form_pairs

router = APIRouter(prefix="/uws/jobs", tags=["uws"], responses=ERRORS)

DELETE_REDIRECT_LAST = 20
"""The list a DELETE redirects to is cut to this many jobs, so that clients do not fetch a huge list."""


class _RequestOnlyRoute(APIRoute):
    """A route whose endpoint takes the Request alone and returns a Response: FastAPI's request handler
    (dependency solving, parameter parsing, response serialization) would have nothing to do but still cost its
    time, a quarter of the app's CPU per job creation (about 30 us), so the endpoint is called as it is. Routing,
    middleware, error handlers and the OpenAPI description stay FastAPI's."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint


async def create_job(request: Request) -> RedirectResponse:
    # The busiest route takes the request alone and calls the dependencies itself: FastAPI's dependency solving
    # cost a fifth of the gateway's CPU per job (the form is read by form_pairs either way, undocumented).
    factory = await get_factory(request)
    caller = await get_caller(request, factory)
    job_id = await factory.jobs.create(parse_creation(await form_pairs(request)), caller.owner, caller.email)
    return RedirectResponse(f"{await get_redirect_base(request, factory)}/uws/jobs/{job_id}", status_code=303)


router.add_api_route("", create_job, methods=["POST"], status_code=303, route_class_override=_RequestOnlyRoute,
                     openapi_extra=CREATE,
                     summary="Create a job: WORKFLOW, FACILITY, RUNID, EXECUTIONDURATION, DESTRUCTION, PHASE=RUN, "
                     "and the workflow's parameters (form-encoded; names case-insensitive); with SWEEP, a campaign")


@router.get("", summary="The caller's jobs, newest first. Filters (AND): PHASE (repeatable; ARCHIVED only when "
            "asked), AFTER, LAST, WORKFLOW, FACILITY, RUNID, PARENT (a campaign's children). Paging: CURSOR from the "
            "Link rel=next header "
            "(or 'next' in JSON)", response_class=Response, responses=job_responses(JobsJson, "uws:jobs"),
            openapi_extra=LIST_QUERY)
async def list_jobs(query: Query, filters: Filters, owner: Owner, jobs: Jobs, base: BaseUrl,
                    json: WantsJson) -> Response:
    page = await jobs.list(filters, owner)
    following = next_page_url(base, query, page.next_cursor)
    body = to_json_jobs(page, base, following) if json else to_uws_jobs(page.jobs, base)
    headers = {"Link": f'<{following}>; rel="next"'} if following else None
    return document(body, json, headers)


@router.get("/{job_id}", summary="One job; WAIT=n (-1: the server's longest) blocks while it stays in PHASE "
            "(or its current phase)", response_class=Response, responses=JOB_RESPONSES, openapi_extra=WAIT_QUERY)
async def get_job(job_id: JobId, wait: Wait, owner: Owner, jobs: Jobs, base: BaseUrl, json: WantsJson) -> Response:
    view = await jobs.get(job_id, wait, owner)
    return document(to_json_job(view, base) if json else to_uws_job(view, base), json)


@router.delete("/{job_id}", status_code=303, summary="Destroy the job (killed first if it runs)")
async def delete_job(job_id: JobId, owner: Owner, jobs: Jobs, redirect: RedirectBase) -> RedirectResponse:
    await jobs.delete(job_id, owner)
    return RedirectResponse(f"{redirect}/uws/jobs?LAST={DELETE_REDIRECT_LAST}", status_code=303)


@router.post("/{job_id}", status_code=303, summary="ACTION=DELETE: destroy the job", dependencies=[DeleteAction],
             openapi_extra=form({"ACTION": {"type": "string", "enum": ["DELETE"]}}, required=("ACTION",)))
async def post_job(job_id: JobId, owner: Owner, jobs: Jobs, redirect: RedirectBase) -> RedirectResponse:
    await jobs.delete(job_id, owner)
    return RedirectResponse(f"{redirect}/uws/jobs?LAST={DELETE_REDIRECT_LAST}", status_code=303)


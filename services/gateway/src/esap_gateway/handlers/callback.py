"""``POST /uws/jobs/{id}/callback``: a running job reports on itself, with its token as a bearer credential;
``POST /uws/callbacks``: many jobs' reports in one request (CallbackBatch), each with its job's token.

The body is read here and parsed by the service, so that a missing credential is answered (401) before the body
is looked at. Must not depend on a concrete client or check the token itself.
"""

from fastapi import APIRouter, Request, Response

from esap_gateway.handlers.dependencies import Callbacks
from esap_messages.api import ReportOutcomes

router = APIRouter(prefix="/uws", tags=["callback"])


@router.post("/jobs/{job_id}/callback", status_code=204, summary="A running job's report (CallbackReport, JSON)")
async def job_callback(job_id: str, request: Request, callbacks: Callbacks) -> Response:
    await callbacks.report(job_id, request.headers.get("authorization"), await request.body())
    return Response(status_code=204)


@router.post("/callbacks", summary="Many jobs' reports (CallbackBatch, JSON); one outcome per report")
async def job_callbacks(request: Request, callbacks: Callbacks) -> ReportOutcomes:
    return await callbacks.report_many(await request.body())

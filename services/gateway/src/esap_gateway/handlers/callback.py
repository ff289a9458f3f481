"""``POST /uws/jobs/{id}/callback``: a running job reports on itself, with its token as a bearer credential;
``POST /uws/callbacks``: many jobs' reports in one request (CallbackBatch), each with its job's token.

A report's credential is looked at before its body is read: a request without a well-formed bearer token is
answered 401 without reading anything (its size is bounded by the route's body limit, handlers.limits, anyway).
Must not depend on a concrete client or check the token itself.
"""

from fastapi import APIRouter, Request, Response

from esap_gateway.handlers.dependencies import Callbacks
from esap_gateway.services.callbacks import bearer_token
from esap_messages.api import ReportOutcomes

router = APIRouter(prefix="/uws", tags=["callback"])


@router.post("/jobs/{job_id}/callback", status_code=204, summary="A running job's report (CallbackReport, JSON)")
async def job_callback(job_id: str, request: Request, callbacks: Callbacks) -> Response:
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        callbacks.refuse_unauthenticated()
    await callbacks.report(job_id, token, await request.body())
    return Response(status_code=204)


@router.post("/callbacks", summary="Many jobs' reports (CallbackBatch, JSON); one outcome per report")
async def job_callbacks(request: Request, callbacks: Callbacks) -> ReportOutcomes:
    return await callbacks.report_many(await request.body())

"""``/uws/sync``: the synchronous pattern; routes only, the rules are in ``services.sync``.

Must not depend on a concrete client or hold a rule.
"""

from fastapi import APIRouter
from fastapi.responses import RedirectResponse

from esap_gateway.adapters.uws_xml import job_url, result_url
from esap_gateway.handlers.dependencies import Owner, RedirectBase, Sync
from esap_gateway.handlers.representations import ERRORS
from esap_gateway.handlers.requests import NewJob, NewJobFromQuery
from esap_gateway.services.sync import SyncOutcome

router = APIRouter(prefix="/uws/sync", tags=["uws"], responses=ERRORS)
_SUMMARY = ("Run a job (same parameters as creating one) and redirect (303) to its main result once it "
            "completed, or to the job when it failed or did not end within the server's sync timeout")


def _redirect(redirect: str, outcome: SyncOutcome) -> RedirectResponse:
    if outcome.result is not None:
        return RedirectResponse(result_url(redirect, outcome.job_id, outcome.result.id), status_code=303)
    return RedirectResponse(job_url(redirect, outcome.job_id), status_code=303)


@router.get("", status_code=303, summary=_SUMMARY)
async def sync_get(request: NewJobFromQuery, owner: Owner, sync: Sync, redirect: RedirectBase) -> RedirectResponse:
    return _redirect(redirect, await sync.run(request, owner))


@router.post("", status_code=303, summary=_SUMMARY)
async def sync_post(request: NewJob, owner: Owner, sync: Sync, redirect: RedirectBase) -> RedirectResponse:
    return _redirect(redirect, await sync.run(request, owner))

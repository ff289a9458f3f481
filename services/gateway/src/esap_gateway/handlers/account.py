"""The caller's own account: ``GET /account/usage``, its use of the quota on active jobs (JSON).

Routes only; must not depend on a concrete client or hold a rule.
"""

from fastapi import APIRouter, Response

from esap_gateway.handlers.dependencies import Jobs, Owner
from esap_gateway.handlers.representations import ERRORS
from esap_messages.api import UsageView

router = APIRouter(prefix="/account", tags=["account"], responses=ERRORS)


@router.get("/usage", response_model=UsageView,
            summary="The caller's jobs handed to a backend (active), jobs waiting in esap-batch, and quota")
async def usage(owner: Owner, jobs: Jobs) -> Response:
    view = await jobs.usage(owner)
    return Response(view.model_dump_json(), media_type="application/json")

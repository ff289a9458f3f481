"""``/account``: who the caller is (owner, e-mail address), their webhook signing secret, their default NOTIFY
targets and usage, and (``/account/usage``) their use of the quota on active jobs, as JSON. Routes only: the rules
are in ``services.accounts`` and ``services.jobs``.
"""

from fastapi import APIRouter, Request, Response

from esap_gateway.domain.errors import InvalidRequestError
from esap_gateway.handlers.dependencies import CallerDep, Jobs, Owner, get_factory
from esap_gateway.handlers.representations import ERRORS
from esap_gateway.handlers.requests import form_pairs
from esap_messages.api import AccountView, UsageView

router = APIRouter(prefix="/account", tags=["account"], responses=ERRORS)


def _json(view: AccountView) -> Response:
    return Response(view.model_dump_json(), media_type="application/json")


@router.get("", response_model=AccountView, summary="Who you are, your webhook signing secret, your defaults")
async def account(request: Request, caller: CallerDep) -> Response:
    return _json(await (await get_factory(request)).accounts.view(caller))


@router.post("/webhook-secret", response_model=AccountView,
             summary="A new webhook signing secret (webhooks sent from now on are signed with it)")
async def rotate_secret(request: Request, caller: CallerDep) -> Response:
    return _json(await (await get_factory(request)).accounts.rotate_secret(caller))


_NOTIFY_SUMMARY = ("Default NOTIFY targets of your new jobs: NOTIFY (repeatable, form) or JSON {\"notify\": [...]}; "
                   "none clears them")


@router.put("/notify", response_model=AccountView, summary=_NOTIFY_SUMMARY, operation_id="put_account_notify")
@router.post("/notify", response_model=AccountView, summary=_NOTIFY_SUMMARY, operation_id="post_account_notify")
async def set_notify(request: Request, caller: CallerDep) -> Response:
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = await request.json()
        except ValueError:
            raise InvalidRequestError("notify", "the body is not JSON") from None
        targets = [str(t) for t in (body.get("notify") or [])] if isinstance(body, dict) else []
    else:
        targets = [value for name, value in await form_pairs(request) if name.upper() == "NOTIFY"]
    return _json(await (await get_factory(request)).accounts.set_notify(caller, targets))


@router.get("/usage", response_model=UsageView,
            summary="The caller's jobs handed to a backend (active), jobs waiting in esap-batch, and quota")
async def usage(owner: Owner, jobs: Jobs) -> Response:
    view = await jobs.usage(owner)
    return Response(view.model_dump_json(), media_type="application/json")

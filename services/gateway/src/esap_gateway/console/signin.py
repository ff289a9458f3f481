"""Sign-in and sign-out pages: the development token form, and the OIDC authorization code flow with PKCE.

Routes only: the token is checked by the gateway's identity service, the code exchanged by ``oidc``.
Must not hold job rules.
"""

import json
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import RedirectResponse, Response

from esap_gateway.console.oidc import SignInAttempt, SignInError, new_attempt
from esap_gateway.console.origin import same_origin
from esap_gateway.console.session import ATTEMPT_COOKIE, TOKEN_COOKIE, Console, render, set_token
from esap_gateway.domain.errors import UnauthenticatedError
from esap_gateway.domain.identity import bearer
from esap_gateway.factory import Factory
from esap_gateway.handlers.dependencies import get_factory

router = APIRouter(tags=["console"], include_in_schema=False, dependencies=[Depends(same_origin)])

AppFactory = Annotated[Factory, Depends(get_factory)]
ATTEMPT_SECONDS = 600


def _local(path: str | None) -> str:
    """Only a path of this site is a place to go back to (never another host)."""
    if path and path.startswith("/") and not path.startswith("//") and "\\" not in path:
        return path
    return "/jobs"


def _callback_url(request: Request, factory: Factory) -> str:
    base = factory.settings.public_base_url or str(request.base_url).rstrip("/")
    return f"{base}/signin/callback"


def _page(request: Request, factory: Factory, next_path: str, error: str = "", status: int = 200) -> Response:
    return render(request, "signin.html", {"next": next_path, "error": error,
                                           "tokens": bool(factory.settings.token_users)}, status)


@router.get("/signin")
async def sign_in_page(request: Request, factory: AppFactory, next: str | None = None) -> Response:
    return _page(request, factory, _local(next))


@router.post("/signin")
async def sign_in_with_token(request: Request, factory: AppFactory, console: Console,
                             token: Annotated[str, Form()], next: Annotated[str, Form()] = "/jobs") -> Response:
    try:
        await factory.identity.owner(bearer(token))
    except UnauthenticatedError:
        return _page(request, factory, _local(next), "This token is not accepted.", 401)
    response = RedirectResponse(_local(next), status_code=303)
    set_token(response, token.strip(), console)
    return response


@router.get("/signin/oidc")
async def sign_in_with_provider(request: Request, factory: AppFactory, console: Console,
                                next: str | None = None) -> Response:
    if console.sign_in is None:
        return _page(request, factory, _local(next), "No identity provider is configured.", 404)
    attempt = new_attempt()
    try:
        url = await console.sign_in.authorization_url(attempt, _callback_url(request, factory))
    except SignInError as exc:
        return _page(request, factory, _local(next), str(exc), 503)
    response = RedirectResponse(url, status_code=303)
    kept = json.dumps({"state": attempt.state, "verifier": attempt.verifier, "next": _local(next)})
    response.set_cookie(ATTEMPT_COOKIE, kept, max_age=ATTEMPT_SECONDS, httponly=True, samesite="lax",
                        secure=console.settings.cookie_secure, path="/signin")
    return response


@router.get("/signin/callback")
async def provider_returned(request: Request, factory: AppFactory, console: Console, code: str = "",
                            state: str = "", error: str = "") -> Response:
    try:
        kept = json.loads(request.cookies.get(ATTEMPT_COOKIE, ""))
        attempt = SignInAttempt(state=str(kept["state"]), verifier=str(kept["verifier"]))
        next_path = _local(str(kept.get("next")))
    except (ValueError, KeyError, TypeError):
        return _page(request, factory, "/jobs", "The sign-in expired; please start again.", 400)
    if console.sign_in is None or error or not code or state != attempt.state:
        reason = f"The identity provider answered: {error}." if error else "The sign-in could not be verified."
        return _page(request, factory, next_path, reason, 400)
    try:
        token = await console.sign_in.exchange(code, attempt, _callback_url(request, factory))
        await factory.identity.owner(bearer(token))
    except (SignInError, UnauthenticatedError) as exc:
        return _page(request, factory, next_path, f"Sign-in refused: {exc}", 401)
    response = RedirectResponse(next_path, status_code=303)
    set_token(response, token, console)
    response.delete_cookie(ATTEMPT_COOKIE, path="/signin")
    return response


@router.post("/signout")
async def sign_out() -> Response:
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(TOKEN_COOKIE, path="/")
    return response

"""Who uses the console: the bearer token kept in an HttpOnly, SameSite=Lax cookie (a static development token
or an OIDC access token), checked by the gateway's identity service on every request like an Authorization
header. Also the templates and what every console route may ask for.

A missing or refused token sends the browser to the sign-in page. Must not hold job rules.
"""

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from esap_gateway.console.resources import ConsoleResources
from esap_gateway.domain.errors import UnauthenticatedError
from esap_gateway.domain.identity import bearer
from esap_gateway.factory import Factory
from esap_gateway.handlers.dependencies import get_factory

TOKEN_COOKIE = "esap_console_token"  # noqa: S105 (a cookie name, not a secret)
ATTEMPT_COOKIE = "esap_console_signin"

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")


class SignInRequiredError(Exception):
    """The console needs a signed-in user here; ``refused`` when a token was sent and not accepted."""

    def __init__(self, next_path: str, refused: bool) -> None:
        super().__init__(next_path)
        self.next_path = next_path
        self.refused = refused


def get_console(request: Request) -> ConsoleResources:
    console: ConsoleResources = request.app.state.console
    return console


async def get_console_owner(request: Request, factory: Annotated[Factory, Depends(get_factory)]) -> str | None:
    token = request.cookies.get(TOKEN_COOKIE)
    try:
        return await factory.identity.owner(bearer(token))
    except UnauthenticatedError:
        raise SignInRequiredError(request.url.path, refused=token is not None) from None


def set_token(response: Response, token: str, console: ConsoleResources) -> None:
    response.set_cookie(TOKEN_COOKIE, token, max_age=int(console.settings.console_session_hours * 3600),
                        httponly=True, samesite="lax", secure=console.settings.cookie_secure, path="/")


def render(request: Request, name: str, context: dict[str, Any], status_code: int = 200) -> HTMLResponse:
    console = get_console(request)
    signed_in = TOKEN_COOKIE in request.cookies
    base = {"signed_in": signed_in, "oidc": console.sign_in is not None, "path": request.url.path}
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status_code)


async def _to_sign_in(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequiredError)
    response = RedirectResponse(f"/signin?next={quote(exc.next_path)}", status_code=303)
    if exc.refused:
        response.delete_cookie(TOKEN_COOKIE, path="/")
    return response


def install_sign_in_redirect(app: FastAPI) -> None:
    app.add_exception_handler(SignInRequiredError, _to_sign_in)


Console = Annotated[ConsoleResources, Depends(get_console)]
ConsoleOwner = Annotated[str | None, Depends(get_console_owner)]

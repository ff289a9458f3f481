"""How refusals become HTTP answers: a status code and a plain-text message, never a stack trace. A refusal because
a dependency is away (503, with Retry-After) is counted in that dependency's outage, which logs it once.

Must not depend on anything but FastAPI, the error types it maps and the factory's outages.
"""

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from starlette.exceptions import HTTPException

from esap_gateway.adapters.catalog import CatalogUnavailableError
from esap_gateway.adapters.publisher import PublishFailedError
from esap_gateway.adapters.tokens import IdentityProviderUnavailableError
from esap_gateway.domain.errors import (
    InvalidReportError,
    InvalidRequestError,
    NotAllowedError,
    NotFoundError,
    RateLimitedError,
    UnauthenticatedError,
    UnsupportedMediaTypeError,
)
from esap_gateway.factory import Factory
from esap_runtime.outages import RETRY_AFTER_SECONDS

_STATUS: dict[type[Exception], int] = {
    InvalidRequestError: 400,
    UnauthenticatedError: 401,
    NotAllowedError: 403,
    NotFoundError: 404,
    UnsupportedMediaTypeError: 415,
    InvalidReportError: 422,
}

_UNAVAILABLE: dict[type[Exception], str] = {
    CatalogUnavailableError: "The job catalog is unavailable; try again later.",
    PublishFailedError: "The message broker did not accept the request; try again later.",
    IdentityProviderUnavailableError: "The identity provider's keys cannot be read; try again later.",
}


async def _refused(request: Request, exc: Exception) -> PlainTextResponse:
    status = next(code for kind, code in _STATUS.items() if isinstance(exc, kind))
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return PlainTextResponse(str(exc), status_code=status, headers=headers)


async def _unavailable(request: Request, exc: Exception) -> PlainTextResponse:
    message = next(text for kind, text in _UNAVAILABLE.items() if isinstance(exc, kind))
    factory: Factory | None = getattr(request.app.state, "factory", None)
    if factory is not None:
        factory.outage(exc).failed(exc)
    return PlainTextResponse(message, status_code=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


async def _rate_limited(request: Request, exc: Exception) -> PlainTextResponse:
    assert isinstance(exc, RateLimitedError)
    return PlainTextResponse(str(exc), status_code=429, headers={"Retry-After": str(exc.retry_after)})


async def _http_error(request: Request, exc: Exception) -> PlainTextResponse:
    assert isinstance(exc, HTTPException)
    return PlainTextResponse(str(exc.detail), status_code=exc.status_code, headers=exc.headers)


async def _invalid(request: Request, exc: Exception) -> PlainTextResponse:
    return PlainTextResponse(f"Invalid request: {exc}", status_code=400)


def install_error_handlers(app: FastAPI) -> None:
    for kind in _STATUS:
        app.add_exception_handler(kind, _refused)
    for kind in _UNAVAILABLE:
        app.add_exception_handler(kind, _unavailable)
    app.add_exception_handler(RateLimitedError, _rate_limited)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)

"""The catalog's one error mapping, from what the services and storage raise to HTTP answers, for every route:

- the database away (storage's outage classification): 503 with Retry-After, the outage logged once when it starts
  and once when it ends (esap_runtime.outages), never a traceback per request;
- a job that is not the caller's, or a callback token refused: 403; a callback for an unknown job: 404; a list
  cursor this service did not make: 400; each with FastAPI's JSON ``{"detail": ...}`` body, as the routes answered
  when each mapped its own.

Any other error is a fault of the catalog and stays a 500 with its traceback.
Depends on FastAPI, the factory, the services' error types and storage's outage classification.
"""

import asyncpg
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import PlainTextResponse

from esap_catalog.factory import Factory
from esap_catalog.services.callbacks import CallbackRefusedError, JobNotFoundError
from esap_catalog.services.jobs import InvalidCursorError, NotOwnerError
from esap_catalog.storage.errors import OUTAGE_TYPES, is_outage
from esap_runtime.outages import RETRY_AFTER_SECONDS

_REFUSED: dict[type[Exception], int] = {
    NotOwnerError: 403,
    CallbackRefusedError: 403,
    JobNotFoundError: 404,
    InvalidCursorError: 400,
}

_DETAIL: dict[type[Exception], str] = {
    JobNotFoundError: "no such job",  # its message is the job id; the answer names no job
}


async def _refused(request: Request, exc: Exception) -> Response:
    kind = next(kind for kind in _REFUSED if isinstance(exc, kind))
    return await http_exception_handler(request, HTTPException(_REFUSED[kind], _DETAIL.get(kind, str(exc))))


async def _database_unavailable(request: Request, exc: Exception) -> PlainTextResponse:
    if not is_outage(exc):
        raise exc
    factory: Factory = request.app.state.factory
    factory.database_outage.failed(exc)
    return PlainTextResponse("The job database is unavailable; try again later.", status_code=503,
                             headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def install_error_handlers(app: FastAPI) -> None:
    for kind in _REFUSED:
        app.add_exception_handler(kind, _refused)
    for kind in (*OUTAGE_TYPES, asyncpg.InterfaceError):  # is_outage keeps only the plain InterfaceError
        app.add_exception_handler(kind, _database_unavailable)

"""How the internal HTTP API answers while the database is away: 503 with Retry-After, the outage logged once when
it starts and once when it ends (esap_runtime.outages), never a traceback per request. Any other error is a fault of
the catalog and stays a 500 with its traceback.

Depends on FastAPI, the factory and storage's outage classification.
"""

import asyncpg
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse

from esap_catalog.factory import Factory
from esap_catalog.storage.errors import OUTAGE_TYPES, is_outage
from esap_runtime.outages import RETRY_AFTER_SECONDS


async def _database_unavailable(request: Request, exc: Exception) -> PlainTextResponse:
    if not is_outage(exc):
        raise exc
    factory: Factory = request.app.state.factory
    factory.database_outage.failed(exc)
    return PlainTextResponse("The job database is unavailable; try again later.", status_code=503,
                             headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def install_error_handlers(app: FastAPI) -> None:
    for kind in (*OUTAGE_TYPES, asyncpg.InterfaceError):  # is_outage keeps only the plain InterfaceError
        app.add_exception_handler(kind, _database_unavailable)

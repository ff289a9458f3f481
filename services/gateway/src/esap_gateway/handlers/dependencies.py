"""What every route may ask for: the caller's identity, the services, the representation asked for, and the
base URL for links.

Must not depend on a concrete client: it reaches everything through the factory.
"""

from typing import Annotated
from urllib.parse import urlencode

from fastapi import Depends, Request

from esap_gateway.domain.identity import Caller, credential_from_header
from esap_gateway.domain.uws import Pairs
from esap_gateway.factory import Factory
from esap_gateway.services.callbacks import CallbackService
from esap_gateway.services.jobs import JobService
from esap_gateway.services.planning import PlanningService
from esap_gateway.services.search import CatalogueSearchService
from esap_gateway.services.sync import SyncService


async def get_factory(request: Request) -> Factory:
    factory: Factory = request.app.state.factory
    return factory


async def get_owner(request: Request, factory: Annotated[Factory, Depends(get_factory)]) -> str | None:
    """The caller's identity, as job owner (None: anonymous), from its bearer token; 401 when refused."""
    return await factory.identity.owner(credential_from_header(request.headers.get("authorization")))


async def get_caller(request: Request, factory: Annotated[Factory, Depends(get_factory)]) -> Caller:
    """The caller's identity with their e-mail address when their token names one; 401 when refused."""
    return await factory.identity.caller(credential_from_header(request.headers.get("authorization")))


async def wants_json(request: Request) -> bool:
    """JSON when the client asks for it and not for XML; XML (the standard's) otherwise."""
    accept = request.headers.get("accept", "").lower()
    return "application/json" in accept and "xml" not in accept


def next_page_url(base: str, query: Pairs, cursor: str | None) -> str | None:
    """The list's URL with the same filters and the next page's cursor."""
    if cursor is None:
        return None
    kept = [(name, value) for name, value in query if name.upper() != "CURSOR"]
    return f"{base}/uws/jobs?{urlencode([*kept, ('CURSOR', cursor)])}"


async def get_jobs(factory: Annotated[Factory, Depends(get_factory)]) -> JobService:
    return factory.jobs


async def get_sync(factory: Annotated[Factory, Depends(get_factory)]) -> SyncService:
    return factory.sync


async def get_search(factory: Annotated[Factory, Depends(get_factory)]) -> CatalogueSearchService:
    return factory.search


async def get_planning(factory: Annotated[Factory, Depends(get_factory)]) -> PlanningService:
    return factory.planning


async def get_callbacks(factory: Annotated[Factory, Depends(get_factory)]) -> CallbackService:
    return factory.callbacks


async def get_base_url(request: Request, factory: Annotated[Factory, Depends(get_factory)]) -> str:
    """Where clients reach the gateway: the configured public URL, else this request's own."""
    return factory.settings.public_base_url or str(request.base_url).rstrip("/")


async def get_redirect_base(request: Request, factory: Annotated[Factory, Depends(get_factory)]) -> str:
    """Prefix of redirect targets: the public URL when configured, else a path on this host."""
    return factory.settings.public_base_url or str(request.scope.get("root_path", "")).rstrip("/")


Owner = Annotated[str | None, Depends(get_owner)]
CallerDep = Annotated[Caller, Depends(get_caller)]
Jobs = Annotated[JobService, Depends(get_jobs)]
Callbacks = Annotated[CallbackService, Depends(get_callbacks)]
Sync = Annotated[SyncService, Depends(get_sync)]
Search = Annotated[CatalogueSearchService, Depends(get_search)]
Planning = Annotated[PlanningService, Depends(get_planning)]
WantsJson = Annotated[bool, Depends(wants_json)]
BaseUrl = Annotated[str, Depends(get_base_url)]
RedirectBase = Annotated[str, Depends(get_redirect_base)]

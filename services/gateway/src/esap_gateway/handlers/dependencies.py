"""What every route may ask for: the caller's identity, the services, and the base URL for links.

The identity is the one place authentication will plug in; for now every caller is anonymous (owner None).
Must not depend on a concrete client: it reaches everything through the factory.
"""

from typing import Annotated

from fastapi import Depends, Request

from esap_gateway.factory import Factory
from esap_gateway.services.callbacks import CallbackService
from esap_gateway.services.jobs import JobService


async def get_factory(request: Request) -> Factory:
    factory: Factory = request.app.state.factory
    return factory


async def get_owner() -> str | None:
    """The caller's identity, as job owner. No authentication yet: everyone is anonymous."""
    return None


async def get_jobs(factory: Annotated[Factory, Depends(get_factory)]) -> JobService:
    return factory.jobs


async def get_callbacks(factory: Annotated[Factory, Depends(get_factory)]) -> CallbackService:
    return factory.callbacks


async def get_base_url(request: Request, factory: Annotated[Factory, Depends(get_factory)]) -> str:
    """Where clients reach the gateway: the configured public URL, else this request's own."""
    return factory.settings.public_base_url or str(request.base_url).rstrip("/")


async def get_redirect_base(request: Request, factory: Annotated[Factory, Depends(get_factory)]) -> str:
    """Prefix of redirect targets: the public URL when configured, else a path on this host."""
    return factory.settings.public_base_url or str(request.scope.get("root_path", "")).rstrip("/")


Owner = Annotated[str | None, Depends(get_owner)]
Jobs = Annotated[JobService, Depends(get_jobs)]
Callbacks = Annotated[CallbackService, Depends(get_callbacks)]
BaseUrl = Annotated[str, Depends(get_base_url)]
RedirectBase = Annotated[str, Depends(get_redirect_base)]

"""The gateway's composition root: ``create_app(settings, catalog=..., publisher=..., console=...)`` and the
``esap-gateway`` entry point.

The one shape of every service (docs/ARCHITECTURE.md, "Composition"): ``create_app`` hands
``esap_runtime.composition.service_app`` a lifespan that enters ``factory.open_factory`` (the catalog's HTTP client,
the bus and the phase-change subscription, unless a test passes its own ports; the ``Factory`` on them), then opens
the console's resources, and installs the one error mapping, ``handlers.errors``. The gateway consumes no queue of
its own: its phase-change subscription is an adapter the factory opens. Routes reach the factory through
``handlers.dependencies``. Nothing connects at import time. Must hold no behaviour: it only wires the parts together.
"""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import structlog
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from esap_gateway.adapters.catalog import CatalogClient
from esap_gateway.adapters.publisher import Publisher
from esap_gateway.config import Settings
from esap_gateway.console import install_console
from esap_gateway.console.resources import ConsoleResources, open_console
from esap_gateway.console.settings import ConsoleSettings
from esap_gateway.factory import Factory, open_factory
from esap_gateway.handlers import account, callback, catalogue, sync, uws, uws_resources
from esap_gateway.handlers.errors import install_error_handlers
from esap_gateway.handlers.headers import SecurityHeaders
from esap_gateway.handlers.limits import BodyLimit
from esap_gateway.metrics import SERVICE, GatewayMetrics
from esap_runtime.composition import service_app
from esap_runtime.ops import serve
from esap_runtime.settings import ServiceSettings

log = structlog.get_logger("esap.gateway")


def create_app(settings: Settings, *, catalog: CatalogClient | None = None,
               publisher: Publisher | None = None, console: ConsoleResources | None = None,
               console_settings: ConsoleSettings | None = None) -> FastAPI:
    """The gateway app; ``catalog``, ``publisher`` and ``console`` replace the real ports (tests)."""
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)

    @asynccontextmanager
    async def running(app: FastAPI) -> AsyncIterator[Factory]:
        async with AsyncExitStack() as stack:
            factory = await stack.enter_async_context(
                open_factory(settings, metrics, catalog=catalog, publisher=publisher))
            app.state.console = console or await open_console(stack, factory.http, settings, console_settings)
            log.info("Gateway ready.", catalog_url=settings.catalog_url, namespace=settings.bus_namespace,
                     anonymous=settings.anonymous_allowed, static_tokens=len(settings.token_users),
                     oidc_issuer=settings.oidc_issuer)
            yield factory

    app = service_app(SERVICE, "esap-batch gateway", registry, running, install_errors=install_error_handlers,
                      summary="IVOA UWS 1.1 batch jobs.")
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)
    app.include_router(uws.router)
    app.include_router(uws_resources.router)
    app.include_router(sync.router)
    app.include_router(callback.router)
    app.include_router(catalogue.router)
    app.include_router(account.router)
    install_console(app)
    return app


def _app_for(settings: ServiceSettings) -> FastAPI:
    assert isinstance(settings, Settings)
    return create_app(settings, console_settings=ConsoleSettings())


def cli() -> None:
    serve(_app_for, Settings(), SERVICE)

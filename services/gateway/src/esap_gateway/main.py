"""The gateway's composition root: ``create_app(settings)`` and the ``esap-gateway`` entry point.

The lifespan opens the internal HTTP client to the catalog and the bus connection (unless a test passes its own
ports) and closes them; nothing connects at import time. Must hold no behaviour: it only wires the parts together.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

import aiohttp
import structlog
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from esap_gateway.adapters.catalog import CatalogClient, HttpCatalogClient
from esap_gateway.adapters.phase_changes import PhaseChangeSubscriber
from esap_gateway.adapters.publisher import BusPublisher, Publisher
from esap_gateway.config import Settings
from esap_gateway.console import install_console
from esap_gateway.console.resources import ConsoleResources, open_console
from esap_gateway.console.settings import ConsoleSettings
from esap_gateway.factory import Factory
from esap_gateway.handlers import callback, catalogue, sync, uws, uws_resources
from esap_gateway.handlers.errors import install_error_handlers
from esap_gateway.handlers.headers import SecurityHeaders
from esap_gateway.handlers.limits import BodyLimit
from esap_gateway.metrics import SERVICE, GatewayMetrics
from esap_gateway.services.settling import Settlements
from esap_messages import Topology
from esap_runtime.bus import Bus
from esap_runtime.internal_http import InternalHttpClient
from esap_runtime.ops import NO_TELEMETRY, add_http_metrics, ops_router, serve
from esap_runtime.settings import ServiceSettings
from esap_runtime.stopping import cancel_and_wait
from esap_runtime.waiters import WaiterRegistry

if TYPE_CHECKING:
    from esap_gateway.adapters.jwt_tokens import JwtVerifier

log = structlog.get_logger("esap.gateway")


def create_app(settings: Settings, *, catalog: CatalogClient | None = None,
               publisher: Publisher | None = None, console: ConsoleResources | None = None,
               console_settings: ConsoleSettings | None = None) -> FastAPI:
    """The gateway app; ``catalog``, ``publisher`` and ``console`` replace the real ports (tests)."""
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            http = InternalHttpClient.open(max_connections=settings.catalog_max_connections)
            stack.push_async_callback(http.close)
            catalog_port = catalog or _catalog_client(http, settings, metrics)
            publisher_port = publisher or await _open_publisher(stack, settings, metrics)
            verifier = await _open_verifier(stack, settings)
            settlements = Settlements(bound=settings.settle_timeout_seconds,
                                      patience=settings.settle_patience_seconds, outcomes=metrics.settlements)
            waiters = await _open_waiters(stack, settings, metrics, settlements) if publisher is None else None
            app.state.factory = Factory(settings, catalog_port, publisher_port, metrics, verifier, waiters,
                                        settlements)
            stack.push_async_callback(app.state.factory.close)
            resending = asyncio.create_task(app.state.factory.resender.run(), name="gateway:resend-creations")
            stack.push_async_callback(cancel_and_wait, [resending])
            app.state.console = console or await open_console(stack, http, settings, console_settings)
            log.info("Gateway ready.", catalog_url=settings.catalog_url, namespace=settings.bus_namespace,
                     anonymous=settings.anonymous_allowed, static_tokens=len(settings.token_users),
                     oidc_issuer=settings.oidc_issuer)
            yield

    app = FastAPI(title="esap-batch gateway", summary="IVOA UWS 1.1 batch jobs.", lifespan=lifespan,
                  telemetry=NO_TELEMETRY)
    add_http_metrics(app, SERVICE, registry)
    app.add_middleware(BodyLimit)
    app.add_middleware(SecurityHeaders)
    install_error_handlers(app)
    app.include_router(ops_router(registry, lambda: app.state.factory.health_checks()))
    app.include_router(uws.router)
    app.include_router(uws_resources.router)
    app.include_router(sync.router)
    app.include_router(callback.router)
    app.include_router(catalogue.router)
    install_console(app)
    return app


def _catalog_client(http: InternalHttpClient, settings: Settings, metrics: GatewayMetrics) -> CatalogClient:
    return HttpCatalogClient(http, settings.catalog_url, timeout=settings.catalog_timeout_seconds,
                             latency=metrics.catalog_seconds, creation_grace=settings.catalog_creation_grace_seconds)


async def _open_publisher(stack: AsyncExitStack, settings: Settings, metrics: GatewayMetrics) -> Publisher:
    bus = await Bus.connect(settings.amqp_url.get_secret_value(), Topology(settings.bus_namespace), metrics.bus)
    stack.push_async_callback(bus.close)
    return BusPublisher(bus, timeout=settings.publish_timeout_seconds)


async def _open_waiters(stack: AsyncExitStack, settings: Settings, metrics: GatewayMetrics,
                        settlements: Settlements) -> WaiterRegistry:
    """WAIT woken by the bus' phase changes, and requests answered on their commands' settlements (the gateway's
    own subscription)."""
    waiters = WaiterRegistry()
    subscriber = await PhaseChangeSubscriber.start(settings.amqp_url.get_secret_value(),
                                                   Topology(settings.bus_namespace), waiters.notify,
                                                   waiters.wake_all, settlements.settle)
    stack.push_async_callback(subscriber.close)
    waiters.live = lambda: subscriber.connected
    settlements.live = lambda: subscriber.connected
    metrics.phase_changes_subscribed.set_function(lambda: float(subscriber.connected))
    return waiters


async def _open_verifier(stack: AsyncExitStack, settings: Settings) -> "JwtVerifier | None":
    if settings.oidc_issuer is None or settings.oidc_audience is None:
        return None
    from esap_gateway.adapters.jwt_tokens import JwtVerifier  # loads PyJWT only where OIDC is configured

    session = await stack.enter_async_context(aiohttp.ClientSession())
    return JwtVerifier(session, issuer=settings.oidc_issuer, audience=settings.oidc_audience,
                       jwks_url=settings.oidc_jwks_url, claim=settings.oidc_owner_claim,
                       algorithms=settings.oidc_algorithms, leeway=settings.oidc_leeway_seconds,
                       cache_seconds=settings.jwks_cache_seconds)


def _app_for(settings: ServiceSettings) -> FastAPI:
    assert isinstance(settings, Settings)
    return create_app(settings, console_settings=ConsoleSettings())


def cli() -> None:
    serve(_app_for, Settings(), SERVICE)

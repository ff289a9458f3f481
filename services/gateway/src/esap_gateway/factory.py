"""The gateway's composition root for one process: ``open_factory`` opens the process' resources (the internal HTTP
client to the catalog, the bus connection and the phase-change subscription, unless a test passes its own ports; the
token verifier's session), builds the ``Factory`` on them and starts the creations' resender; it closes them in
reverse. The ``Factory`` builds the services from those resources; routes ask it for a service.

Nothing here runs at import time; ``open_factory`` is entered by the app's lifespan (main.py). Must not read
settings from the environment: it is given them. Never depends on handlers or the console.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING

import aiohttp
import structlog

from esap_gateway.adapters.catalog import CatalogClient, CatalogUnavailableError, HttpCatalogClient
from esap_gateway.adapters.phase_changes import PhaseChangeSubscriber
from esap_gateway.adapters.publisher import BusPublisher, Publisher, PublishFailedError
from esap_gateway.adapters.result_files import LocalResultFiles
from esap_gateway.adapters.tokens import IdentityProviderUnavailableError
from esap_gateway.config import Settings
from esap_gateway.metrics import GatewayMetrics
from esap_gateway.services.accounts import AccountService
from esap_gateway.services.callbacks import CallbackService
from esap_gateway.services.catalogue import CatalogueCache
from esap_gateway.services.identity import IdentityService, TokenVerifier
from esap_gateway.services.jobs import JobService
from esap_gateway.services.planning import PlanningService
from esap_gateway.services.ratelimit import RateLimiter
from esap_gateway.services.resending import CreationResender
from esap_gateway.services.search import CatalogueSearchService
from esap_gateway.services.settling import Settlements
from esap_gateway.services.sync import SyncService
from esap_messages import Topology
from esap_messages.notify import allowed_prefixes
from esap_runtime.bus import Bus
from esap_runtime.internal_http import InternalHttpClient
from esap_runtime.ops import HealthCheck
from esap_runtime.outages import Outage
from esap_runtime.stopping import cancel_and_wait
from esap_runtime.waiters import WaiterRegistry

if TYPE_CHECKING:
    from esap_gateway.adapters.jwt_tokens import JwtVerifier

log = structlog.get_logger("esap.gateway")


class Factory:
    def __init__(self, settings: Settings, catalog: CatalogClient, publisher: Publisher,
                 metrics: GatewayMetrics, verifier: TokenVerifier | None = None,
                 waiters: WaiterRegistry | None = None, settlements: Settlements | None = None, *,
                 http: InternalHttpClient) -> None:
        self.settings = settings
        self.http = http  # the catalog's HTTP client, shared with the console
        self._catalog = catalog
        self._publisher = publisher
        catalogue = CatalogueCache(catalog, ttl=settings.catalogue_cache_seconds)
        self.resender = CreationResender(publisher, resent=metrics.creations_resent)
        self.planning = PlanningService(catalogue, max_sweep_children=settings.max_sweep_children)
        self.search = CatalogueSearchService(catalog, catalogue)
        self.accounts = AccountService(catalog, notify_allowed=allowed_prefixes(settings.notify_allowed_urls),
                                       mail_anyone=settings.mail_anyone)
        self.jobs = JobService(
            catalog, publisher, catalogue, LocalResultFiles(settings.local_work_root), metrics,
            default_facility=settings.default_facility, max_wait=settings.max_wait_seconds,
            lifetime=timedelta(days=settings.default_destruction_days), waiters=waiters, planner=self.planning,
            limiter=RateLimiter(settings.rate_limit_per_minute), settlements=settlements, resender=self.resender,
            max_sweep_children=settings.max_sweep_children,
            notify_allowed=allowed_prefixes(settings.notify_allowed_urls), mail_anyone=settings.mail_anyone,
            default_targets=self.accounts.default_targets,
        )
        self.sync = SyncService(self.jobs, catalog, timeout=settings.sync_timeout_seconds,
                                max_wait=settings.max_wait_seconds)
        self.identity = IdentityService(static_tokens=settings.token_users, allow_anonymous=settings.anonymous_allowed,
                                        verifier=verifier, metrics=metrics)
        self.callbacks = CallbackService(catalog, publisher, metrics)
        self._outages: dict[type[Exception], Outage] = {
            CatalogUnavailableError: Outage("catalog", catalog.healthy, refused=metrics.requests_refused),
            PublishFailedError: Outage("broker", publisher.healthy, refused=metrics.requests_refused),
            IdentityProviderUnavailableError: Outage("identity provider", None, refused=metrics.requests_refused),
        }

    def outage(self, exc: Exception) -> Outage:
        """The outage a refusal of this kind belongs to."""
        return next(outage for kind, outage in self._outages.items() if isinstance(exc, kind))

    async def close(self) -> None:
        for outage in self._outages.values():
            await outage.close()

    def health_checks(self) -> dict[str, HealthCheck]:
        return {"bus": self._publisher.healthy, "catalog": self._catalog.healthy}


@asynccontextmanager
async def open_factory(settings: Settings, metrics: GatewayMetrics, *, catalog: CatalogClient | None = None,
                       publisher: Publisher | None = None) -> AsyncIterator[Factory]:
    """Everything the gateway's routes need, running; ``catalog`` and ``publisher`` replace the real ports (tests),
    and without the real publisher there is no phase-change subscription either."""
    async with AsyncExitStack() as stack:
        http = InternalHttpClient.open(max_connections=settings.catalog_max_connections)
        stack.push_async_callback(http.close)
        catalog_port = catalog or _catalog_client(http, settings, metrics)
        publisher_port = publisher or await _open_publisher(stack, settings, metrics)
        verifier = await _open_verifier(stack, settings)
        settlements = Settlements(bound=settings.settle_timeout_seconds,
                                  patience=settings.settle_patience_seconds, outcomes=metrics.settlements)
        waiters = await _open_waiters(stack, settings, metrics, settlements) if publisher is None else None
        factory = Factory(settings, catalog_port, publisher_port, metrics, verifier, waiters, settlements, http=http)
        stack.push_async_callback(factory.close)
        resending = asyncio.create_task(factory.resender.run(), name="gateway:resend-creations")
        stack.push_async_callback(cancel_and_wait, [resending])
        yield factory


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

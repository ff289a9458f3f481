"""Builds the gateway's services from the process's resources (catalog client, publisher, token verifier,
metrics, settings).

Made once per app in the lifespan; routes ask it for a service. Tests build it from fakes of the two ports.
Must not open connections or read settings from the environment: it is given its resources.
"""

from datetime import timedelta

from esap_gateway.adapters.catalog import CatalogClient, CatalogUnavailableError
from esap_gateway.adapters.publisher import Publisher, PublishFailedError
from esap_gateway.adapters.result_files import LocalResultFiles
from esap_gateway.adapters.tokens import IdentityProviderUnavailableError
from esap_gateway.config import Settings
from esap_gateway.metrics import GatewayMetrics
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
from esap_runtime.ops import HealthCheck
from esap_runtime.outages import Outage
from esap_runtime.waiters import WaiterRegistry


class Factory:
    def __init__(self, settings: Settings, catalog: CatalogClient, publisher: Publisher,
                 metrics: GatewayMetrics, verifier: TokenVerifier | None = None,
                 waiters: WaiterRegistry | None = None, settlements: Settlements | None = None) -> None:
        self.settings = settings
        self._catalog = catalog
        self._publisher = publisher
        catalogue = CatalogueCache(catalog, ttl=settings.catalogue_cache_seconds)
        self.resender = CreationResender(publisher, resent=metrics.creations_resent)
        self.planning = PlanningService(catalogue)
        self.search = CatalogueSearchService(catalog, catalogue)
        self.jobs = JobService(
            catalog, publisher, catalogue, LocalResultFiles(settings.local_work_root), metrics,
            default_facility=settings.default_facility, max_wait=settings.max_wait_seconds,
            lifetime=timedelta(days=settings.default_destruction_days), waiters=waiters, planner=self.planning,
            limiter=RateLimiter(settings.rate_limit_per_minute), settlements=settlements, resender=self.resender,
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

"""The catalog's composition root for one process: builds the pool, the LISTEN connection, the bus, the
background tasks and the services, in order, and tears them down in reverse.

Nothing here runs at import time; ``open_factory`` is entered by the app's lifespan (main.py), which hands it the
queue's consumer (handlers sit above the factory: they ask it for services).
Depends on config, metrics, services, storage and the runtime bus; never on handlers.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine, Mapping
from datetime import timedelta
from typing import Any

import asyncpg
import structlog
from prometheus_client import CollectorRegistry

from esap_catalog.adapters.mail import MailSender, parse_smtp_url
from esap_catalog.adapters.webhooks import WebhookSender
from esap_catalog.config import Settings
from esap_catalog.metrics import CatalogMetrics
from esap_catalog.services.accounts import AccountService
from esap_catalog.services.callbacks import CallbackService
from esap_catalog.services.catalogue import CatalogueCache, CatalogueService
from esap_catalog.services.destruction import DestructionSweeper
from esap_catalog.services.housekeeping import count_phases_forever, maintain_tables_forever, prune_inbox_forever
from esap_catalog.services.ingest import IngestService
from esap_catalog.services.jobs import JobQueryService
from esap_catalog.services.notifier import Notifier
from esap_catalog.services.relay import OutboxRelay
from esap_catalog.services.settlements import SettlementPublisher
from esap_catalog.services.waiting import JobWaiter
from esap_catalog.storage.accounts import AccountStore
from esap_catalog.storage.catalogue import CatalogueStore
from esap_catalog.storage.destruction import DestructionStore
from esap_catalog.storage.listener import ChangeListener
from esap_catalog.storage.messages import InboxStore, OutboxStore
from esap_catalog.storage.migrator import check_schema
from esap_catalog.storage.notifications import NotificationStore
from esap_catalog.storage.pool import close_pool, create_pool
from esap_catalog.storage.search import CatalogueSearchStore
from esap_catalog.storage.unit_of_work import PostgresUnitOfWork
from esap_catalog.storage.views import JobViewStore
from esap_messages import Topology
from esap_messages.notify import allowed_prefixes
from esap_runtime.bus import Bus, BusMetrics, Handler
from esap_runtime.ops import HealthCheck
from esap_runtime.outages import Outage
from esap_runtime.stopping import cancel_and_wait
from esap_runtime.waiters import WaiterRegistry

log = structlog.get_logger("esap.catalog")


class Factory:
    """The process' resources, and the services built on them."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, listener: ChangeListener, bus: Bus,
                 waiters: WaiterRegistry, metrics: CatalogMetrics) -> None:
        self.settings = settings
        self.pool = pool
        self.listener = listener
        self.bus = bus
        self.metrics = metrics
        views = JobViewStore(pool)
        waiter = JobWaiter(views.job, waiters, max_wait=settings.max_wait_seconds,
                           creation_grace=settings.creation_grace_seconds, deleted=views.deleted)
        self.jobs = JobQueryService(views, waiter, list_limit=settings.list_limit, quota=settings.quota_active_jobs)
        self.callbacks = CallbackService(views)
        catalogue = CatalogueStore(pool)
        search = CatalogueSearchStore(pool, window=timedelta(hours=settings.planning_window_hours),
                                      samples=settings.planning_samples)
        self.catalogue = CatalogueService(catalogue, search)
        self.relay = OutboxRelay(OutboxStore(pool), bus.publish_encoded, metrics,
                                 batch_size=settings.outbox_batch_size, sweep_seconds=settings.outbox_sweep_seconds)
        cache = CatalogueCache(settings.catalogue_cache_seconds)
        self.settlements = SettlementPublisher(bus.publish_many)
        smtp = settings.smtp_url.get_secret_value() if settings.smtp_url else None
        self.webhooks = WebhookSender(allowed_prefixes(settings.notify_allowed_urls),
                                      timeout=settings.notify_timeout_seconds)
        self.notifier = Notifier(
            NotificationStore(pool), self.webhooks,
            MailSender(parse_smtp_url(smtp) if smtp else None, sender=settings.notify_from,
                       timeout=settings.notify_timeout_seconds),
            metrics, backoff_seconds=settings.notify_backoff_seconds,
            backoff_max_seconds=settings.notify_backoff_max_seconds, retry_seconds=settings.notify_retry_seconds,
            poll_seconds=settings.notify_poll_seconds, lease_seconds=settings.notify_timeout_seconds * 4)
        self.accounts = AccountService(AccountStore(pool))
        self.ingest = IngestService(lambda: PostgresUnitOfWork(pool), cache, metrics, self.relay.wake,
                                    on_settled=self.settlements, public_url=settings.gateway_url,
                                    on_notices=self.notifier.wake, quota=settings.quota_active_jobs,
                                    prefetch=settings.dispatch_prefetch)
        self.units = lambda: PostgresUnitOfWork(pool)
        self.sweeper = DestructionSweeper(DestructionStore(pool), self.ingest, action=settings.destruction_action,
                                          batch_size=settings.destruction_batch_size)
        self.database_outage = Outage("database", self._database_answers, refused=metrics.requests_refused)

    async def _database_answers(self) -> bool:
        return bool(await self.pool.fetchval("SELECT 1"))

    def health_checks(self) -> Mapping[str, HealthCheck]:
        async def database() -> bool:
            return await self._database_answers()

        async def listener() -> bool:
            return self.listener.connected

        async def bus() -> bool:
            return self.bus.ready

        return {"database": database, "listen": listener, "bus": bus}


@contextlib.asynccontextmanager
async def open_factory(settings: Settings, registry: CollectorRegistry,
                       consumer: Callable[[Factory], Handler]) -> AsyncIterator[Factory]:
    """Everything the app needs, running; refuses to start on a schema that is not this version's. The catalog
    queue is consumed last, by ``consumer(factory)``, once the background tasks run."""
    url = settings.database_url.get_secret_value()
    metrics = CatalogMetrics(registry)
    async with contextlib.AsyncExitStack() as stack:
        pool = await create_pool(url, min_size=settings.pool_min, max_size=settings.pool_max)
        stack.push_async_callback(close_pool, pool)
        async with pool.acquire() as conn:
            await check_schema(conn)
        waiters = WaiterRegistry(metrics.waiters.set)
        listener = ChangeListener(url, waiters.notify, waiters.wake_all)
        await listener.start()
        stack.push_async_callback(listener.close)
        bus = await Bus.connect(settings.amqp_url.get_secret_value(), Topology(settings.bus_namespace),
                                BusMetrics("catalog", registry))
        stack.push_async_callback(bus.close)
        factory = Factory(settings, pool, listener, bus, waiters, metrics)
        stack.push_async_callback(factory.database_outage.close)
        stack.push_async_callback(factory.settlements.close)
        await factory.webhooks.open()
        stack.push_async_callback(factory.webhooks.close)
        _background(stack, factory.relay.run(), "catalog:outbox-relay")
        _background(stack, factory.notifier.run(), "catalog:notifier")
        _background(stack, prune_inbox_forever(InboxStore(pool), settings.inbox_retention_days),
                    "catalog:inbox-pruning")
        _background(stack, factory.sweeper.run(settings.destruction_sweep_seconds), "catalog:destruction")
        _background(stack, maintain_tables_forever(pool), "catalog:table-maintenance")
        _background(stack, count_phases_forever(pool, metrics, settings.phase_count_seconds),
                    "catalog:phase-counts")
        _background(stack, factory.ingest.dispatcher.sweep_forever(factory.units, factory.relay.wake,
                                                                   settings.dispatch_sweep_seconds),
                    "catalog:dispatch-sweep")
        await bus.consume(bus.topology.catalog, consumer(factory), batch_size=settings.batch_size,
                          linger=settings.batch_linger_ms / 1000.0)
        log.info("Catalog ready.", queue=bus.topology.catalog.name)
        yield factory
        log.info("Catalog stopping.")
    log.info("Catalog stopped.")


def _background(stack: contextlib.AsyncExitStack, work: Coroutine[Any, Any, None], name: str) -> None:
    task = asyncio.create_task(work, name=name)

    stack.push_async_callback(cancel_and_wait, [task])

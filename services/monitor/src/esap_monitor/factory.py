"""The monitor's composition root for one process: builds the bus, the catalog client, the backends, the tracker,
the poller and the sync, registers the monitor queue's consumer and starts the loops; tears them down in reverse.

The one place where the parts meet. The backends are the observing sides the backend registry builds from the
settings (``esap_backends.registry.build_observing``), and which of them report by themselves is the registry's
too. ``open_factory`` is entered by the app's lifespan (main.py), which hands it the queue's consumer; tests pass
their own backends instead of the configured ones. Holds no rule of its own.
Depends on config, metrics, services, adapters, the backends library and the runtime; never on handlers.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

import aiohttp
import structlog

from esap_backends import Observing
from esap_backends.kinds import ObservingResources
from esap_backends.measured import MeasuredBackend
from esap_backends.registry import REPORTS_ITSELF, build_observing
from esap_messages import Topology
from esap_monitor.adapters.catalog import CatalogClient
from esap_monitor.config import Settings
from esap_monitor.metrics import MonitorMetrics
from esap_monitor.services.poller import StatusPoller
from esap_monitor.services.sync import CatalogSync
from esap_monitor.services.tracker import Tracker
from esap_runtime.bus import Bus, Handler
from esap_runtime.internal_http import InternalHttpClient
from esap_runtime.ops import HealthCheck
from esap_runtime.stopping import cancel_and_wait

log = structlog.get_logger("esap.monitor")

# Connections to the catalog: the monitor asks it for little (its active jobs at each resync, its facilities).
CATALOG_MAX_CONNECTIONS = 4


@dataclass
class Factory:
    """The running parts: for the queue's consumer, and for the health checks."""

    bus: Bus
    tracker: Tracker
    poller: StatusPoller
    sync: CatalogSync
    loops: asyncio.Task[None] | None = None

    def health_checks(self) -> dict[str, HealthCheck]:
        async def bus() -> bool:
            return self.bus.ready

        async def catalog_synced() -> bool:
            return self.sync.synced

        async def polling() -> bool:
            return self.loops is not None and not self.loops.done()

        return {"bus": bus, "catalog_synced": catalog_synced, "polling": polling}


async def _run_loops(sync: CatalogSync, poller: StatusPoller) -> None:
    await sync.first_sync()
    async with asyncio.TaskGroup() as group:
        group.create_task(sync.run(), name="monitor:resync")
        group.create_task(poller.run(), name="monitor:poll")


def _report_end(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("Monitor loops stopped.", error=repr(task.exception()), exc_info=task.exception())


@contextlib.asynccontextmanager
async def open_factory(settings: Settings, metrics: MonitorMetrics, consumer: Callable[[Factory], Handler],
                       backends: Mapping[str, Observing] | None = None) -> AsyncIterator[Factory]:
    """Connect, start consuming (with ``consumer(factory)``) and polling; stop and disconnect on exit."""
    tracker = Tracker(catalog_lag_seconds=settings.catalog_lag_seconds, self_reporting=REPORTS_ITSELF)
    metrics.count_tracked(tracker.__len__)
    topology = Topology(settings.bus_namespace)
    bus = await Bus.connect(settings.amqp_url.get_secret_value(), topology, metrics.bus)
    http = InternalHttpClient.open(max_connections=CATALOG_MAX_CONNECTIONS)
    try:
        async with aiohttp.ClientSession() as session:
            if backends is None:  # the observing sides only; output sandboxes are fetched under the work root
                backends = build_observing(settings, ObservingResources(session, settings.local_work_root))
            measured = {name: MeasuredBackend(backend, metrics.backend_call_seconds)
                        for name, backend in backends.items()}
            poller = StatusPoller(
                tracker, measured, bus.publish_many, metrics, interval=settings.poll_interval_seconds,
                chunk_size=settings.poll_chunk_size, coalesce_seconds=settings.nudge_coalesce_seconds,
                history_on_every_change=settings.history_on_every_change,
                results_concurrency=settings.results_fetch_concurrency,
            )
            catalog = CatalogClient(http, settings.catalog_url, timeout=settings.catalog_timeout_seconds)
            sync = CatalogSync(catalog, tracker, metrics, resync_seconds=settings.resync_seconds,
                               on_due=poller.nudge)
            factory = Factory(bus, tracker, poller, sync)
            await bus.consume(topology.monitor, consumer(factory), batch_size=settings.consume_batch_size)
            factory.loops = loops = asyncio.create_task(_run_loops(sync, poller), name="monitor:loops")
            loops.add_done_callback(_report_end)
            try:
                yield factory
            finally:
                await cancel_and_wait([loops])
    finally:
        await http.close()
        await bus.close()

"""The submitter's composition root for one process: builds the HTTP session and client, the backends, the bus
and the submission service, in order, and tears them down in reverse: at start the backends recover their jobs
before any message is consumed; at stop consuming ends first, then the backends let go without killing anything.

Which backends exist, and how each is built, is the backend registry's (``esap_backends.registry``): this module
hands it what the submitter provides (the session, the counted callback client, the own-observations sink) and
hooks the local executor's queue to the metrics. ``open_factory`` is entered by the app's lifespan (main.py), which
hands it the queue's consumer. Depends on the backends library, the runtime, the settings, the metrics, services and
adapters; never on handlers.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp
import structlog

from esap_backends import ManagedBackend
from esap_backends.kinds import SubmittingResources
from esap_backends.local import HttpCallbackClient, LocalBackend
from esap_backends.registry import HOLDS_ON_OUTAGE, build_submitting
from esap_messages import Topology
from esap_runtime.bus import Bus, Handler
from esap_runtime.internal_http import InternalHttpClient
from esap_runtime.ops import HealthCheck
from esap_submitter.adapters.callbacks import CountingCallbackClient
from esap_submitter.config import Settings
from esap_submitter.metrics import SubmitterMetrics
from esap_submitter.services.observations import OwnObservations
from esap_submitter.services.submission import SubmissionService

log = structlog.get_logger("esap.submitter")

# Connections to the gateway: the local executor's callbacks go one request at a time.
GATEWAY_MAX_CONNECTIONS = 4


class Factory:
    """The process' bus and backends, and the submission service built on them."""

    def __init__(self, bus: Bus, backends: dict[str, ManagedBackend], submission: SubmissionService) -> None:
        self.bus = bus
        self.backends = backends
        self.submission = submission

    def health_checks(self) -> dict[str, HealthCheck]:
        async def bus_connected() -> bool:
            return self.bus.ready

        return {"bus": bus_connected}


@asynccontextmanager
async def open_factory(settings: Settings, metrics: SubmitterMetrics,
                       consumer: Callable[[Factory], Handler]) -> AsyncIterator[Factory]:
    """Everything the submitter needs, running; the submitter queue is consumed last, by ``consumer(factory)``,
    once the backends have recovered their jobs."""
    async with AsyncExitStack() as stack:
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        stack.push_async_callback(session.close)
        http = InternalHttpClient.open(max_connections=GATEWAY_MAX_CONNECTIONS)
        stack.push_async_callback(http.close)
        observations = OwnObservations()
        backends = build_backends(settings, session, http, metrics, observations)
        for backend in backends.values():
            stack.push_async_callback(backend.close)
            await backend.recover()
        topology = Topology(settings.bus_namespace)
        bus = await Bus.connect(settings.amqp_url.get_secret_value(), topology, metrics.bus)
        stack.push_async_callback(bus.close)
        observations.connect(bus.publish_many)
        stack.push_async_callback(observations.close)
        submission = SubmissionService(backends, metrics, hold_on_outage=HOLDS_ON_OUTAGE,
                                       claim_start=observations.claim_start)
        factory = Factory(bus, backends, submission)
        await bus.consume(topology.submitter, consumer(factory), batch_size=1, workers=settings.workers)
        log.info("Submitter consuming.", queue=topology.submitter.name, backends=sorted(backends))
        yield factory
        log.info("Submitter stopping.")


def build_backends(settings: Settings, session: aiohttp.ClientSession, http: InternalHttpClient,
                   metrics: SubmitterMetrics, observations: OwnObservations | None = None) -> dict[str, ManagedBackend]:
    """The backends; ``session`` reaches DiracX, ``http`` the gateway (callbacks). The local executor tells
    ``observations`` of the starts and ends it sees itself."""
    callbacks = CountingCallbackClient(
        HttpCallbackClient(http, settings.gateway_url, attempts=settings.callback_attempts),
        metrics.callbacks,
    )
    resources = SubmittingResources(
        session=session, work_root=settings.local_work_root, workflows_dir=settings.workflows_dir,
        gateway_url=settings.gateway_url, callback_client=callbacks,
        on_status=observations.observe if observations is not None else None, on_batch=metrics.count_batch,
    )
    backends = build_submitting(settings, resources)
    local = backends.get(LocalBackend.name)
    if isinstance(local, LocalBackend):
        metrics.running_jobs.set_function(lambda: local.running_count)
        metrics.waiting_jobs.set_function(lambda: local.waiting_count)
    return backends

"""The submitter's composition root: ``create_app(settings)`` and the ``esap-submitter`` entry point.

The lifespan builds everything (HTTP session, backends, bus) and tears it down in reverse: at start the
backends recover their jobs before any message is consumed; at stop consuming ends first, then the backends
let go without killing anything. Nothing connects at import time.
"""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import aiohttp
import structlog
from fastapi import FastAPI
from prometheus_client import CollectorRegistry

from esap_backends.registry import HOLDS_ON_OUTAGE
from esap_messages import Topology
from esap_runtime.bus import Bus
from esap_runtime.internal_http import InternalHttpClient
from esap_runtime.ops import NO_TELEMETRY, HealthCheck, add_http_metrics, ops_router, serve
from esap_runtime.settings import ServiceSettings
from esap_submitter.config import Settings
from esap_submitter.factory import build_backends
from esap_submitter.handlers.messages import submitter_handler
from esap_submitter.metrics import SERVICE, SubmitterMetrics
from esap_submitter.services.observations import OwnObservations
from esap_submitter.services.submission import SubmissionService

log = structlog.get_logger("esap.submitter")

# Connections to the gateway: the local executor's callbacks go one request at a time.
GATEWAY_MAX_CONNECTIONS = 4


def create_app(settings: Settings) -> FastAPI:
    metrics = SubmitterMetrics(CollectorRegistry())
    checks: dict[str, HealthCheck] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
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

            async def bus_connected() -> bool:
                return bus.ready

            checks["bus"] = bus_connected
            service = SubmissionService(backends, metrics, hold_on_outage=HOLDS_ON_OUTAGE,
                                        claim_start=observations.claim_start)
            await bus.consume(topology.submitter, submitter_handler(service, bus), batch_size=1,
                              workers=settings.workers)
            log.info("Submitter consuming.", queue=topology.submitter.name, backends=sorted(backends))
            yield
            log.info("Submitter stopping.")

    app = FastAPI(title="esap-batch submitter", lifespan=lifespan, telemetry=NO_TELEMETRY)
    app.include_router(ops_router(metrics.registry, lambda: checks))
    add_http_metrics(app, SERVICE, metrics.registry)
    return app


def _build(settings: ServiceSettings) -> FastAPI:
    if not isinstance(settings, Settings):
        raise TypeError("the submitter needs its own Settings")
    return create_app(settings)


def cli() -> None:
    serve(_build, Settings(), SERVICE)

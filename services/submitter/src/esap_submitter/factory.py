"""Builds the submitter's backends from its settings and the process's resources (HTTP session, metrics).

The one place that knows which backends exist: ``local`` always, ``diracx`` when its URL is configured, ``dirac``
(classic DIRAC) when its setup is.
Depends on the backends library, the settings and the metrics.
"""

import aiohttp

from esap_backends import ManagedBackend
from esap_backends.dirac.settings import build_dirac_backend
from esap_backends.diracx.settings import build_diracx_backend
from esap_backends.local import HttpCallbackClient, LocalBackend
from esap_runtime.internal_http import InternalHttpClient
from esap_submitter.adapters.callbacks import CountingCallbackClient
from esap_submitter.config import Settings
from esap_submitter.metrics import SubmitterMetrics
from esap_submitter.services.observations import OwnObservations

# Remote backends whose outages can last minutes: their messages are held, never failed, while they are down.
HOLD_ON_OUTAGE = frozenset({"diracx", "dirac"})


def build_backends(settings: Settings, session: aiohttp.ClientSession, http: InternalHttpClient,
                   metrics: SubmitterMetrics, observations: OwnObservations | None = None) -> dict[str, ManagedBackend]:
    """The backends; ``session`` reaches DiracX, ``http`` the gateway (callbacks). The local executor tells
    ``observations`` of the starts and ends it sees itself."""
    callbacks = CountingCallbackClient(
        HttpCallbackClient(http, settings.gateway_url, attempts=settings.callback_attempts),
        metrics.callbacks,
    )
    local = LocalBackend(
        work_root=settings.local_work_root, workflows_dir=settings.workflows_dir,
        max_parallel=settings.local_max_parallel, kill_grace_seconds=settings.kill_grace_seconds,
        callback_client=callbacks, search_path=settings.local_search_path,
        on_status=observations.observe if observations is not None else None,
        callback_delay_seconds=settings.callback_delay_seconds,
    )
    metrics.running_jobs.set_function(lambda: local.running_count)
    metrics.waiting_jobs.set_function(lambda: local.waiting_count)
    backends: dict[str, ManagedBackend] = {local.name: local}
    diracx = build_diracx_backend(settings, session, workflows_dir=settings.workflows_dir,
                                  gateway_url=settings.gateway_url, results_root=None)
    if diracx is not None:
        backends[diracx.name] = diracx
    dirac = build_dirac_backend(settings, workflows_dir=settings.workflows_dir, gateway_url=settings.gateway_url)
    if dirac is not None:
        backends[dirac.name] = dirac
    return backends

"""Builds the submitter's backends from its settings and the process's resources (HTTP session, metrics).

Which backends exist, and how each is built, is the backend registry's (``esap_backends.registry``): this module
hands it what the submitter provides (the session, the counted callback client, the own-observations sink) and
hooks the local executor's queue to the metrics. Depends on the backends library, the settings and the metrics.
"""

import aiohttp

from esap_backends import ManagedBackend
from esap_backends.kinds import SubmittingResources
from esap_backends.local import HttpCallbackClient, LocalBackend
from esap_backends.registry import build_submitting
from esap_runtime.internal_http import InternalHttpClient
from esap_submitter.adapters.callbacks import CountingCallbackClient
from esap_submitter.config import Settings
from esap_submitter.metrics import SubmitterMetrics
from esap_submitter.services.observations import OwnObservations


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
        on_status=observations.observe if observations is not None else None,
    )
    backends = build_submitting(settings, resources)
    local = backends.get(LocalBackend.name)
    if isinstance(local, LocalBackend):
        metrics.running_jobs.set_function(lambda: local.running_count)
        metrics.waiting_jobs.set_function(lambda: local.waiting_count)
    return backends

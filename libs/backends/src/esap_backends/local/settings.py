"""The local executor's settings, and its declaration as a backend kind (``local``, always built).

A mixin of fields for each service's Settings (``SUBMITTER_LOCAL_MAX_PARALLEL``, or ``ESAP_...`` for all); only the
submitter reads them, as only it starts and kills local jobs. The work root and the workflows directory are the
services' own settings, handed over in the resources. The monitor builds the observing side alone: it reads the
job directories and starts no launcher. Depends on pydantic, the local executor and the backend kinds.
"""

import os

from pydantic import BaseModel, Field

from esap_backends.base import ManagedBackend, Observing
from esap_backends.kinds import BackendKind, ObservingResources, SubmittingResources
from esap_backends.local.backend import LocalBackend
from esap_backends.local.observer import LocalObserver


class LocalSettings(BaseModel):
    local_max_parallel: int = Field(64, ge=1, description="Local jobs running at once; the rest wait (FIFO).")
    local_search_path: str = Field(
        default_factory=lambda: os.environ.get("PATH", os.defpath),
        description="PATH given to local jobs; by default the submitter's own, so jobs find what it finds.",
    )
    kill_grace_seconds: float = Field(
        5.0, ge=0, description="Seconds between SIGTERM and SIGKILL when a local job is killed."
    )
    callback_delay_seconds: float = Field(
        0.5, ge=0, le=60,
        description="Seconds a local job's callback waits before it is sent. The submitter publishes the same start "
                    "or end at once; a callback that reaches the gateway after the catalog took it is not published "
                    "again.")


def build_local_backend(settings: LocalSettings, resources: SubmittingResources) -> ManagedBackend:
    return LocalBackend(
        work_root=resources.work_root, workflows_dir=resources.workflows_dir,
        max_parallel=settings.local_max_parallel, kill_grace_seconds=settings.kill_grace_seconds,
        callback_client=resources.callback_client, search_path=settings.local_search_path,
        on_status=resources.on_status, callback_delay_seconds=settings.callback_delay_seconds,
    )


def build_local_observer(settings: LocalSettings, resources: ObservingResources) -> Observing:
    return LocalObserver.at(resources.work_root)


KIND = BackendKind(
    name=LocalBackend.name, settings=LocalSettings, submitting=build_local_backend, observing=build_local_observer,
    holds_on_outage=False, reports_itself=True,
)

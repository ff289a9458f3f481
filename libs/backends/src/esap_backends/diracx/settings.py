"""The DiracX connection settings shared by the submitter and the monitor, the backend built from them, and its
declaration as a backend kind (``diracx``: remote, held on outage).

A mixin of fields for each service's Settings (so ``SUBMITTER_DIRACX_URL``, ``MONITOR_DIRACX_URL`` or
``ESAP_DIRACX_URL`` for both): the facility names its backend (``diracx``), the settings say where DiracX is and
who esap-batch is there. Credentials live here (a SecretStr API key, or the path of a diracx-client credentials
file), never in the database; exactly one of them with a URL. Depends on pydantic, aiohttp, the backend kinds
and the DiracX backend's parts.
"""

from collections.abc import Callable
from pathlib import Path
from typing import Self

import aiohttp
from pydantic import BaseModel, Field, SecretStr, model_validator

from esap_backends.diracx.backend import DiracXBackend
from esap_backends.diracx.client import DEFAULT_CLIENT_ID, DiracXClient, DiracXIdentity
from esap_backends.diracx.sandbox import SandboxResults
from esap_backends.grid import placement as grid
from esap_backends.kinds import BackendKind, ObservingResources, SubmittingResources

RESULTS_DIR = ".diracx"


class DiracXSettings(BaseModel):
    diracx_url: str | None = Field(None, description="DiracX base URL; unset means no DiracX backend here.")
    diracx_api_key: SecretStr | None = Field(
        None, description="The legacy-exchange API key (raw); DiracX holds its SHA-256. Or diracx_credentials_path.")
    diracx_credentials_path: Path | None = Field(
        None, description="A credentials file as diracx-client writes it (access_token, refresh_token, expires_on); "
        "its token is refreshed before it expires and written back. Or diracx_api_key.")
    diracx_client_id: str = Field(
        DEFAULT_CLIENT_ID, description="OAuth2 client id sent when refreshing the credentials file's token.")
    diracx_vo: str = Field("esap", description="DIRAC VO esap-batch submits in.")
    diracx_group: str = Field("esap_user", description="DIRAC group esap-batch acts in (NormalUser).")
    diracx_username: str = Field("esap", description="DIRAC user (preferred username) esap-batch acts as.")
    # Where the facility's jobs may run: the fields classic DIRAC and DiracX share (esap_backends.grid.placement).
    diracx_sites: grid.Sites = ""
    diracx_tags: grid.Tags = ""
    diracx_platform: grid.Platform = ""
    diracx_job_group: grid.JobGroup = "esap"
    diracx_runtime_engine: grid.RuntimeEngine = ""
    diracx_container_image: grid.ContainerImage = ""
    diracx_default_cpu_time: grid.DefaultCpuTime = 86400
    diracx_timeout_seconds: float = Field(30.0, gt=0, description="Time allowed for one DiracX call.")
    diracx_chunk_size: int = Field(5000, ge=1, le=10000, description="Most job ids in one status search.")
    diracx_submit_in_flight: int = Field(
        4, ge=1, le=64, description="Submitter: most submission calls (POST /api/jobs/jdl, 20 jobs each at most) "
        "under way at once; more hand a campaign's children over faster and load DiracX's job database more.")
    diracx_full_poll_seconds: float = Field(
        60.0, ge=0, description="Monitor: polls ask DiracX only for jobs updated since the last answer, and for "
        "every tracked job this often; 0 asks for every job at every poll.")

    @model_validator(mode="after")
    def _one_credential(self) -> Self:
        if self.diracx_url and (self.diracx_api_key is None) == (self.diracx_credentials_path is None):
            raise ValueError("diracx_url is set: set exactly one of diracx_api_key (the legacy-exchange key) and "
                             "diracx_credentials_path (a diracx-client credentials file)")
        return self

    def diracx_placement(self) -> grid.FacilityPlacement:
        return grid.FacilityPlacement.from_settings(
            sites=self.diracx_sites, tags=self.diracx_tags, platform=self.diracx_platform,
            job_group=self.diracx_job_group, runtime_engine=self.diracx_runtime_engine,
            container_image=self.diracx_container_image,
            default_cpu_time=self.diracx_default_cpu_time)


def build_diracx_backend(settings: DiracXSettings, session: aiohttp.ClientSession, *,
                         workflows_dir: Path | None, gateway_url: str | None,
                         results_root: Path | None, incremental: bool = False,
                         on_batch: Callable[[str, int], None] | None = None) -> DiracXBackend | None:
    """The DiracX backend the settings describe, or None when no DiracX is configured.

    ``results_root`` (the monitor's local work root) is where output sandboxes are fetched to as results;
    ``incremental`` (the monitor) makes polls ask only for what changed between full polls; ``on_batch`` (the
    submitter's metrics) is told of every submission call.
    """
    if not settings.diracx_url:
        return None
    if (settings.diracx_api_key is None) == (settings.diracx_credentials_path is None):
        raise ValueError("diracx_url is set: set exactly one of diracx_api_key and diracx_credentials_path")
    identity = DiracXIdentity(vo=settings.diracx_vo, group=settings.diracx_group,
                              username=settings.diracx_username)
    path = settings.diracx_credentials_path
    client = DiracXClient(session, settings.diracx_url, settings.diracx_api_key, identity,
                          credentials_path=path.expanduser().resolve() if path is not None else None,
                          client_id=settings.diracx_client_id, timeout_seconds=settings.diracx_timeout_seconds)
    sandboxes = SandboxResults(client, session, results_root / RESULTS_DIR) if results_root is not None else None
    return DiracXBackend(client, settings.diracx_placement(), workflows_dir=workflows_dir,
                         gateway_url=gateway_url, chunk_size=settings.diracx_chunk_size, sandboxes=sandboxes,
                         full_poll_seconds=settings.diracx_full_poll_seconds if incremental else 0.0,
                         in_flight=settings.diracx_submit_in_flight, on_batch=on_batch)


def build_diracx_submitting(settings: DiracXSettings, resources: SubmittingResources) -> DiracXBackend | None:
    """The submitter's: jobs carry the workflows' files and the gateway's callback URL; no results are fetched."""
    return build_diracx_backend(settings, resources.session, workflows_dir=resources.workflows_dir,
                                gateway_url=resources.gateway_url, results_root=None,
                                on_batch=resources.on_batch)


def build_diracx_observing(settings: DiracXSettings, resources: ObservingResources) -> DiracXBackend | None:
    """The monitor's: polls ask for what changed between full polls; output sandboxes go under the work root."""
    return build_diracx_backend(settings, resources.session, workflows_dir=None, gateway_url=None,
                                results_root=resources.work_root, incremental=True)


KIND = BackendKind(
    name=DiracXBackend.name, settings=DiracXSettings, submitting=build_diracx_submitting,
    observing=build_diracx_observing, holds_on_outage=True, reports_itself=False,
)

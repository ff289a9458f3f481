"""The classic DIRAC settings shared by the submitter and the monitor, the backend built from them, and its
declaration as a backend kind (``dirac``: remote, held on outage).

A mixin of fields for each service's Settings (``SUBMITTER_DIRAC_SETUP``, ``MONITOR_DIRAC_SETUP`` or
``ESAP_DIRAC_SETUP`` for both): a facility whose backend is ``dirac`` runs there. Credentials are files named
here (the X509 proxy, a local dirac.cfg), never database rows. The backend exists only when ``dirac_setup`` is
set, and needs DIRAC installed in ``dirac_venv`` (``make dirac-install``). Depends on pydantic, the backend
kinds and the DIRAC backend's parts.
"""

import os
from pathlib import Path

from pydantic import BaseModel, Field

from esap_backends.dirac.backend import DiracBackend
from esap_backends.dirac.client import DiracBridgeClient
from esap_backends.dirac.install import DEFAULT_VENV, venv_python
from esap_backends.grid import placement as grid
from esap_backends.kinds import BackendKind, ObservingResources, SubmittingResources

BRIDGE = Path(__file__).with_name("bridge.py")
RESULTS_DIR = ".dirac"


class DiracSettings(BaseModel):
    dirac_setup: str = Field("", description="DIRAC setup name; empty means no classic DIRAC backend here.")
    dirac_config_server: str = Field(
        "", description="Comma-separated DIRAC configuration server URLs (dips://...); empty uses dirac_cfg's.")
    dirac_cfg: Path | None = Field(None, description="A local dirac.cfg merged into DIRAC's configuration.")
    dirac_proxy_path: Path | None = Field(
        None, description="X509 proxy esap-batch acts with (X509_USER_PROXY of the bridge); renewed outside.")
    dirac_venv: Path = Field(
        default_factory=lambda: DEFAULT_VENV.resolve(),
        description="Virtualenv holding DIRAC (python -m esap_backends.dirac.install makes it).")
    # Where the facility's jobs may run: the fields classic DIRAC and DiracX share (esap_backends.grid.placement).
    dirac_sites: grid.Sites = ""
    dirac_tags: grid.Tags = ""
    dirac_platform: grid.Platform = ""
    dirac_job_group: grid.JobGroup = "esap"
    dirac_runtime_engine: grid.RuntimeEngine = ""
    dirac_container_image: grid.ContainerImage = ""
    dirac_default_cpu_time: grid.DefaultCpuTime = 86400
    dirac_timeout_seconds: float = Field(
        60.0, gt=0, description="Time allowed for one DIRAC call; past it the bridge process is killed.")
    dirac_start_timeout_seconds: float = Field(
        60.0, gt=0, description="Time allowed for the bridge process to start and read DIRAC's configuration.")
    dirac_bridge_threads: int = Field(4, ge=1, le=64, description="DIRAC calls the bridge runs at once.")
    dirac_chunk_size: int = Field(1000, ge=1, le=10000, description="Most job ids in one bulk status call.")

    def dirac_placement(self) -> grid.FacilityPlacement:
        return grid.FacilityPlacement.from_settings(
            sites=self.dirac_sites, tags=self.dirac_tags, platform=self.dirac_platform,
            job_group=self.dirac_job_group, runtime_engine=self.dirac_runtime_engine,
            container_image=self.dirac_container_image,
            default_cpu_time=self.dirac_default_cpu_time)

    def dirac_bridge_command(self) -> list[str]:
        command = [str(venv_python(self.dirac_venv)), str(BRIDGE), "--threads", str(self.dirac_bridge_threads)]
        if self.dirac_setup:
            command += ["--setup", self.dirac_setup]
        if self.dirac_config_server:
            command += ["--config-server", self.dirac_config_server]
        if self.dirac_cfg is not None:
            command += ["--cfg", str(self.dirac_cfg)]
        return command

    def dirac_bridge_env(self) -> dict[str, str]:
        env = {key: value for key, value in os.environ.items() if not key.startswith(("PYTHON", "VIRTUAL_ENV"))}
        if self.dirac_proxy_path is not None:
            env["X509_USER_PROXY"] = str(self.dirac_proxy_path)
        return env


def build_dirac_client(settings: DiracSettings) -> DiracBridgeClient:
    """A bridge client for these settings (DIRAC need not be configured: the bridge builds JDL offline too)."""
    return DiracBridgeClient(settings.dirac_bridge_command(), env=settings.dirac_bridge_env(),
                             timeout_seconds=settings.dirac_timeout_seconds,
                             start_timeout_seconds=settings.dirac_start_timeout_seconds)


def build_dirac_backend(settings: DiracSettings, *, workflows_dir: Path | None, gateway_url: str | None,
                        results_root: Path | None = None) -> DiracBackend | None:
    """The classic DIRAC backend the settings describe, or None when no DIRAC setup is configured. The bridge
    starts at the first call, so a missing installation shows as BackendError then, not at start-up.

    ``results_root`` (the monitor's local work root, where the gateway serves results from) is where output
    sandboxes are fetched to; without it (the submitter) a job's results are no files."""
    if not settings.dirac_setup:
        return None
    if not settings.dirac_config_server and settings.dirac_cfg is None:
        raise ValueError("dirac_setup is set but neither dirac_config_server nor dirac_cfg is")
    return DiracBackend(build_dirac_client(settings), settings.dirac_placement(), workflows_dir=workflows_dir,
                        gateway_url=gateway_url, chunk_size=settings.dirac_chunk_size,
                        results_root=results_root / RESULTS_DIR if results_root is not None else None,
                        fetch_concurrency=settings.dirac_bridge_threads)


def build_dirac_submitting(settings: DiracSettings, resources: SubmittingResources) -> DiracBackend | None:
    """The submitter's: jobs carry the workflows' files and the gateway's callback URL; no results are fetched."""
    return build_dirac_backend(settings, workflows_dir=resources.workflows_dir, gateway_url=resources.gateway_url)


def build_dirac_observing(settings: DiracSettings, resources: ObservingResources) -> DiracBackend | None:
    """The monitor's: output sandboxes are fetched under the work root."""
    return build_dirac_backend(settings, workflows_dir=None, gateway_url=None, results_root=resources.work_root)


KIND = BackendKind(
    name=DiracBackend.name, settings=DiracSettings, submitting=build_dirac_submitting,
    observing=build_dirac_observing, holds_on_outage=True, reports_itself=False,
)

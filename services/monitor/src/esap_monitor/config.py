"""The monitor's settings, read from the environment (prefix ``MONITOR_``, fallback ``ESAP_``).

The only module of the service that reads the environment; everything else is passed a ``Settings``.
"""

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from esap_backends.registry import BackendSettings
from esap_runtime.settings import ServiceSettings


def _under_cwd(name: str) -> Path:
    return (Path.cwd() / name).resolve()


class Settings(ServiceSettings, BackendSettings):
    model_config = SettingsConfigDict(env_prefix="MONITOR_", frozen=True, extra="ignore")

    http_port: int = Field(8003, ge=0, le=65535, description="Port of the monitor's HTTP server (ops only).")
    catalog_url: str = Field("http://127.0.0.1:8001", description="Base URL of the catalog's internal API.")
    poll_interval_seconds: float = Field(
        1.0, gt=0, le=3600, description="Time between two polls of every tracked job (one bulk call per backend)."
    )
    resync_seconds: float = Field(
        30.0, gt=0, description="Time between two full re-reads of the active jobs from the catalog."
    )
    poll_chunk_size: int = Field(
        5000, ge=1, description="Most backend job ids asked for in one bulk status call; larger sets are chunked."
    )
    catalog_lag_seconds: float = Field(
        5.0, ge=0,
        description="How far the catalog may lag behind the bus: a resync neither drops a job heard of this "
        "recently nor republishes a final status sent this recently.",
    )
    nudge_coalesce_seconds: float = Field(
        0.002, ge=0, le=1.0,
        description="After a job report asks for an immediate poll, wait this long for others to join the call.",
    )
    history_on_every_change: bool = Field(
        True, description="Send the backend's job history (DIRAC's logging info) with every status change; "
        "false sends it only with a final status (fewer backend calls).")
    results_fetch_concurrency: int = Field(
        8, ge=1, le=256, description="Ended jobs whose results (DIRAC output sandboxes) are fetched at once.")
    consume_batch_size: int = Field(500, ge=1, description="Most bus messages handled together in one batch.")
    catalog_timeout_seconds: float = Field(
        30.0, gt=0, description="Time allowed for one request to the catalog (the active-job list can be long)."
    )
    local_work_root: Path = Field(
        default_factory=lambda: _under_cwd("var/jobs"),
        description="Directory of the local executor, one subdirectory per job (shared with the submitter).",
    )
    workflows_dir: Path = Field(
        default_factory=lambda: _under_cwd("workflows"), description="Directory of the workflow definitions."
    )

    @field_validator("local_work_root", "workflows_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

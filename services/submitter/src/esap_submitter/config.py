"""The submitter's settings, read from the environment (SUBMITTER_..., or ESAP_... for all services).

The only module of the service that reads the environment; everything else is passed the settings.
"""

import os
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from esap_backends.dirac.settings import DiracSettings
from esap_backends.diracx.settings import DiracXSettings
from esap_runtime.settings import ServiceSettings


class Settings(ServiceSettings, DiracXSettings, DiracSettings):
    model_config = SettingsConfigDict(env_prefix="SUBMITTER_", frozen=True, extra="ignore")

    http_port: int = Field(8002, ge=0, le=65535, description="Port of the submitter's HTTP server (ops only).")
    gateway_url: str = Field(
        "http://127.0.0.1:8000", description="Gateway base URL; local jobs post their callbacks there."
    )
    local_work_root: Path = Field(
        default_factory=lambda: Path("var/jobs").resolve(),
        description="Directory holding one directory per local job; shared with the monitor.",
    )
    workflows_dir: Path = Field(
        default_factory=lambda: Path("workflows").resolve(),
        description="Directory the workflows' files are copied from into each job's directory.",
    )
    local_max_parallel: int = Field(64, ge=1, description="Local jobs running at once; the rest wait (FIFO).")
    local_search_path: str = Field(
        default_factory=lambda: os.environ.get("PATH", os.defpath),
        description="PATH given to local jobs; by default the submitter's own, so jobs find what it finds.",
    )
    kill_grace_seconds: float = Field(
        5.0, ge=0, description="Seconds between SIGTERM and SIGKILL when a local job is killed."
    )
    workers: int = Field(32, ge=1, le=512, description="Messages handled concurrently (one each).")
    callback_attempts: int = Field(4, ge=1, le=20, description="Tries per job callback before giving up.")
    callback_delay_seconds: float = Field(
        0.5, ge=0, le=60,
        description="Seconds a local job's callback waits before it is sent. The submitter publishes the same start "
                    "or end at once; a callback that reaches the gateway after the catalog took it is not published "
                    "again.")

    @field_validator("local_work_root", "workflows_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

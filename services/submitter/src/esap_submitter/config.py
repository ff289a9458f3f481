"""The submitter's settings, read from the environment (SUBMITTER_..., or ESAP_... for all services).

The only module of the service that reads the environment; everything else is passed the settings.
"""

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from esap_backends.registry import BackendSettings
from esap_runtime.settings import ServiceSettings


class Settings(ServiceSettings, BackendSettings):
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
    workers: int = Field(32, ge=1, le=512, description="Messages handled concurrently (one each).")
    callback_attempts: int = Field(4, ge=1, le=20, description="Tries per job callback before giving up.")

    @field_validator("local_work_root", "workflows_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

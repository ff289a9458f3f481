"""The gateway's settings, read from the environment (prefix ``GATEWAY_``, fallback ``ESAP_``).

The only module of the service that reads the environment; everything else is passed a ``Settings``.
Must not depend on any other module of the gateway.
"""

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from esap_runtime.settings import ServiceSettings


def _under_cwd(name: str) -> Path:
    return (Path.cwd() / name).resolve()


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", frozen=True, extra="ignore")

    http_port: int = Field(8000, ge=0, le=65535, description="Port of the gateway's HTTP server.")
    catalog_url: str = Field("http://127.0.0.1:8001", description="Base URL of the catalog's internal API.")
    public_base_url: str | None = Field(
        None,
        description="Base URL clients reach the gateway at (e.g. https://host/batch), used in links and "
        "redirects; when unset, links are made from each request's own URL.",
    )
    max_wait_seconds: int = Field(
        60, ge=1, le=3600, description="Longest a GET ?WAIT=n blocks; WAIT=-1 and larger values mean this."
    )
    default_facility: str = Field("local", description="Facility of a job created without FACILITY.")
    local_work_root: Path = Field(
        default_factory=lambda: _under_cwd("var/jobs"),
        description="Directory of the local executor; only result files under it are served.",
    )
    catalog_timeout_seconds: float = Field(
        5.0, gt=0, le=300, description="Time allowed for one request to the catalog (a WAIT adds its own time)."
    )
    catalog_max_connections: int = Field(
        1024, ge=1, description="Most open connections to the catalog; each blocking WAIT holds one."
    )
    catalogue_cache_seconds: float = Field(
        5.0, ge=0, le=3600, description="How long workflows and facilities read from the catalog are reused."
    )
    publish_timeout_seconds: float = Field(
        5.0, gt=0, le=300, description="Time allowed for the broker to confirm one published command."
    )

    @field_validator("local_work_root")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("catalog_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("public_base_url")
    @classmethod
    def _unset_when_empty(cls, value: str | None) -> str | None:
        return value.rstrip("/") or None if value else None

"""The settings every service shares, read from the environment.

A service's own prefix wins (``CATALOG_AMQP_URL``); the common ``ESAP_`` prefix (``ESAP_AMQP_URL``) sets a value for
all services at once. Only services' ``config.py`` modules build settings; everything else is passed them.
"""

from enum import StrEnum
from typing import Any, Self
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, PydanticBaseSettingsSource, SettingsConfigDict


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


def uses_guest_account(amqp_url: str) -> bool:
    """Whether a connection to this URL logs in as RabbitMQ's guest user: named so (in any spelling the URL allows),
    or by naming no user at all, since the AMQP client then logs in as guest."""
    username = urlsplit(amqp_url).username
    return username is None or unquote(username).strip().lower() in ("", "guest")


class ServiceSettings(BaseSettings):
    """Base of each service's frozen settings class."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    environment: Environment = Field(
        Environment.DEVELOPMENT, description="development relaxes safety checks and logs for a console."
    )
    log_level: str = Field("INFO", description="Lowest level logged: DEBUG, INFO, WARNING, ERROR.")
    log_json: bool | None = Field(None, description="JSON log lines; defaults to on outside development.")
    amqp_url: SecretStr = Field(
        SecretStr("amqp://guest:guest@127.0.0.1:5672/"), description="RabbitMQ connection URL."
    )
    bus_namespace: str = Field(
        "esap", pattern=r"^[a-z][a-z0-9_-]{0,40}$", description="Prefix of the exchange and queue names."
    )
    http_host: str = Field("127.0.0.1", description="Address the service's HTTP server binds.")
    http_port: int = Field(0, ge=0, le=65535, description="Port of the service's HTTP server.")

    @property
    def json_logs(self) -> bool:
        if self.log_json is not None:
            return self.log_json
        return self.environment is not Environment.DEVELOPMENT

    @model_validator(mode="after")
    def _refuse_unsafe_defaults(self) -> Self:
        if self.environment is Environment.PRODUCTION and uses_guest_account(self.amqp_url.get_secret_value()):
            raise ValueError("amqp_url uses RabbitMQ's guest account, refused in production")
        return self

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        common = EnvSettingsSource(settings_cls, env_prefix="ESAP_")
        return (init_settings, env_settings, common, file_secret_settings)


def describe(settings: BaseSettings) -> dict[str, Any]:
    """Settings as plain values, safe to log: secrets stay masked by SecretStr."""
    return settings.model_dump(mode="json")

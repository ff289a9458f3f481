"""The gateway's settings, read from the environment (prefix ``GATEWAY_``, fallback ``ESAP_``).

The only module of the service that reads the environment; everything else is passed a ``Settings``.
Must not depend on any other module of the gateway.
"""

import json
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from esap_messages.commands import MAX_CAMPAIGN_CHILDREN
from esap_runtime.settings import Environment, ServiceSettings


def _under_cwd(name: str) -> Path:
    return (Path.cwd() / name).resolve()


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", frozen=True, extra="ignore")

    http_port: int = Field(8000, ge=0, le=65535, description="Port of the gateway's HTTP server.")
    catalog_url: str = Field("http://127.0.0.1:8001", description="Base URL of the catalog's internal API.")
    public_base_url: str | None = Field(
        None,
        description="Base URL clients reach the gateway at (e.g. https://host/batch), used in links and "
        "redirects; required in production. Unset (development only): links are made from each request's own URL.",
    )
    max_wait_seconds: int = Field(
        60, ge=1, le=3600, description="Longest a GET ?WAIT=n blocks; WAIT=-1 and larger values mean this."
    )
    max_sweep_children: int = Field(
        10_000, ge=1, le=MAX_CAMPAIGN_CHILDREN,
        description="Most children one SWEEP request may make (the cartesian product of its SWEEP parameters).",
    )
    default_facility: str | None = Field(
        None, description="Facility of a job created without FACILITY; unset: the best offer of execution planning."
    )
    local_work_root: Path = Field(
        default_factory=lambda: _under_cwd("var/jobs"),
        description="Directory of the local executor; only result files under it are served.",
    )
    catalog_timeout_seconds: float = Field(
        5.0, gt=0, le=300, description="Time allowed for one request to the catalog (a WAIT adds its own time)."
    )
    catalog_creation_grace_seconds: float = Field(
        10.0, ge=0, le=300, description="Time added to a job read for the catalog's own wait for a job just "
        "created (its creation_grace_seconds), so that such a read ends in an answer, not a timeout.",
    )
    catalog_max_connections: int = Field(
        1024, ge=1, description="Most open connections to the catalog; each blocking WAIT holds one."
    )
    catalogue_cache_seconds: float = Field(
        5.0, ge=0, le=3600, description="How long workflows and facilities read from the catalog are reused."
    )
    settle_timeout_seconds: float = Field(
        10.0, gt=0, le=300, description="Longest a request that sends a command (create, run, abort, update, "
        "delete) waits for the catalog to settle it before its 303; past it the request is answered as applied "
        "(the broker holds the command), and the redirect's target may not show it yet.",
    )
    settle_patience_seconds: float = Field(
        0.5, gt=0, le=300, description="A request waiting for its command's settlement gives up sooner when the "
        "catalog settled nothing at all for this long (it is stopped or without its database): it is then answered "
        "as applied, as at settle_timeout_seconds.",
    )
    rate_limit_per_minute: int = Field(
        600, ge=0, description="State-changing requests (create, run, abort, update, delete) one owner may make a "
        "minute, in bursts of as many; beyond, 429 with Retry-After. 0: no limit.",
    )
    publish_timeout_seconds: float = Field(
        5.0, gt=0, le=300, description="Time allowed for the broker to confirm one published command."
    )

    default_destruction_days: float = Field(
        7.0, gt=0, le=3650, description="Lifetime of a job created without DESTRUCTION: it is destroyed (ARCHIVED "
        "or removed, as the catalog is set up) this many days after its creation.",
    )
    sync_timeout_seconds: int = Field(
        60, ge=1, le=3600, description="Longest /uws/sync waits for its job before redirecting to the job itself.",
    )
    notify_allowed_urls: str = Field(
        "", description="Comma-separated URL prefixes a NOTIFY webhook may go to (the catalog checks them again at "
        "delivery); empty allows none.")
    notify_mail_anyone: bool | None = Field(
        None, description="NOTIFY=mailto: to any address; otherwise only to the caller's own (their token's email "
        "claim). Defaults to on in development, off otherwise.")
    allow_anonymous: bool | None = Field(
        None, description="Serve callers without a token (owner: none). Defaults to on in development, off "
        "otherwise; on in production only with allow_unsafe_identity.",
    )
    static_tokens: SecretStr | None = Field(
        None, description='JSON map of bearer tokens to user names, e.g. {"token-a": "alice"}: for development; '
        "refused in production unless allow_unsafe_identity.",
    )
    allow_unsafe_identity: bool = Field(
        False, description="Accept anonymous use or static tokens in production (a deliberate choice).",
    )
    oidc_issuer: str | None = Field(
        None, description="Issuer (iss) of the OIDC access tokens accepted as bearer tokens; unset: no JWTs.",
    )
    oidc_audience: str | None = Field(None, description="Audience (aud) the tokens must carry; required with "
                                      "oidc_issuer.")
    oidc_jwks_url: str | None = Field(
        None, description="URL of the issuer's JWKS; unset: read from the issuer's OpenID configuration.",
    )
    oidc_owner_claim: str = Field("sub", min_length=1, description="Claim whose value is the caller's identity.")
    oidc_algorithms: tuple[str, ...] = Field(("RS256", "ES256"), min_length=1,
                                             description="Signature algorithms accepted.")
    oidc_leeway_seconds: float = Field(30.0, ge=0, le=600, description="Clock skew allowed on exp, nbf, iat.")
    jwks_cache_seconds: float = Field(
        300.0, ge=1, description="How long keys read from the JWKS are trusted before they are read again.",
    )

    @property
    def mail_anyone(self) -> bool:
        if self.notify_mail_anyone is not None:
            return self.notify_mail_anyone
        return self.environment is Environment.DEVELOPMENT

    @property
    def anonymous_allowed(self) -> bool:
        if self.allow_anonymous is not None:
            return self.allow_anonymous
        return self.environment is Environment.DEVELOPMENT

    @property
    def token_users(self) -> dict[str, str]:
        """The static tokens as a map (validated at start)."""
        return _token_map(self.static_tokens)

    @model_validator(mode="after")
    def _refuse_unsafe_identity(self) -> Self:
        self.token_users  # noqa: B018  (parses, raising on a malformed map)
        if self.oidc_issuer and not self.oidc_audience:
            raise ValueError("oidc_audience is required with oidc_issuer")
        if self.environment is Environment.PRODUCTION and not self.allow_unsafe_identity:
            if self.anonymous_allowed:
                raise ValueError("anonymous use is refused in production (allow_anonymous); set "
                                 "allow_unsafe_identity to accept it")
            if self.static_tokens is not None:
                raise ValueError("static_tokens are refused in production; set allow_unsafe_identity to accept them")
            if not self.oidc_issuer:
                raise ValueError("production needs oidc_issuer (and oidc_audience): nobody could sign in")
        if self.environment is Environment.PRODUCTION:
            if self.public_base_url is None:
                raise ValueError("production needs public_base_url: links, redirects and the sign-in's return "
                                 "address would otherwise be made from each request's Host header, which the client "
                                 "chooses")
            for name in ("oidc_issuer", "oidc_jwks_url"):
                value = getattr(self, name)
                if value and not value.lower().startswith("https://"):
                    raise ValueError(f"{name} must be an https URL in production: its keys decide who is who")
        return self

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
        if not value or not value.rstrip("/"):
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("public_base_url must be an absolute http(s) URL without query or fragment")
        return value.rstrip("/")


def _token_map(secret: SecretStr | None) -> dict[str, str]:
    if secret is None or not secret.get_secret_value().strip():
        return {}
    try:
        value = json.loads(secret.get_secret_value())
    except ValueError:
        raise ValueError("static_tokens must be a JSON object of token to user name") from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and k and isinstance(v, str) and v
                                              for k, v in value.items()):
        raise ValueError("static_tokens must be a JSON object of non-empty token to non-empty user name")
    return value

"""The console's settings, read from the environment (prefix ``GATEWAY_``, fallback ``ESAP_``): how people sign in
to the web console (the OIDC client) and how its session cookie is made.

The gateway's own ``Settings`` keep the token checks; these add only what a browser sign-in needs.
Must not depend on any other module of the gateway.
"""

from typing import Self

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from esap_runtime.settings import Environment, ServiceSettings


class ConsoleSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="GATEWAY_", frozen=True, extra="ignore")

    oidc_client_id: str | None = Field(
        None, description="OIDC client id of the console (authorization code with PKCE); unset: no OIDC sign-in.",
    )
    oidc_client_secret: SecretStr | None = Field(
        None, description="Secret of a confidential OIDC client; unset for a public client (PKCE alone).",
    )
    oidc_scopes: str = Field("openid profile", description="Scopes asked for at sign-in, space-separated.")
    oidc_authorization_url: str | None = Field(
        None, description="Authorization endpoint; unset: read from the issuer's OpenID configuration.",
    )
    oidc_token_url: str | None = Field(
        None, description="Token endpoint; unset: read from the issuer's OpenID configuration.",
    )
    console_cookie_secure: bool | None = Field(
        None, description="Send the console's cookies only over HTTPS; unset: on in production (where off is "
        "refused), off in development.",
    )
    console_session_hours: float = Field(
        12.0, gt=0, le=720, description="Lifetime of the console's sign-in cookie, in hours.",
    )
    console_page_size: int = Field(25, ge=1, le=500, description="Jobs shown per page of the console's job list.")

    @property
    def cookie_secure(self) -> bool:
        if self.console_cookie_secure is not None:
            return self.console_cookie_secure
        return self.environment is Environment.PRODUCTION

    @model_validator(mode="after")
    def _refuse_plain_cookies_in_production(self) -> Self:
        if self.environment is Environment.PRODUCTION and self.console_cookie_secure is False:
            raise ValueError("console_cookie_secure=false is refused in production: the sign-in cookie would "
                             "travel in clear")
        return self

"""Who the caller is: static development tokens, a token verifier (faked), anonymous use, and the settings that
refuse unsafe identity in production."""

import pytest
from prometheus_client import CollectorRegistry
from pydantic import SecretStr, ValidationError

from esap_gateway.adapters.tokens import InvalidTokenError
from esap_gateway.config import Settings
from esap_gateway.console.settings import ConsoleSettings
from esap_gateway.domain.errors import UnauthenticatedError
from esap_gateway.domain.identity import credential_from_header
from esap_gateway.metrics import GatewayMetrics
from esap_gateway.services.identity import IdentityService
from esap_runtime.settings import Environment

SAFE_AMQP = SecretStr("amqp://esap:secret@rabbit:5672/")
PUBLIC = "https://batch.example.org/esap"


class FakeVerifier:
    async def identity(self, token: str) -> str:
        if token == "good.jwt.token":
            return "carol"
        if token == "alice.jwt.token":
            return "alice"
        raise InvalidTokenError("The token has expired.")


def service(*, anonymous: bool, verifier: FakeVerifier | None = None) -> IdentityService:
    return IdentityService(static_tokens={"token-a": "alice"}, allow_anonymous=anonymous, verifier=verifier,
                           metrics=GatewayMetrics(CollectorRegistry()))


async def test_static_tokens_and_jwts_name_their_user() -> None:
    identity = service(anonymous=False, verifier=FakeVerifier())
    assert await identity.owner(credential_from_header("Bearer token-a")) == "alice"
    assert await identity.owner(credential_from_header("bearer good.jwt.token")) == "carol"


async def test_a_jwt_naming_a_static_token_user_is_refused_so_two_sources_never_share_jobs() -> None:
    identity = service(anonymous=False, verifier=FakeVerifier())
    with pytest.raises(UnauthenticatedError, match="development token"):
        await identity.owner(credential_from_header("Bearer alice.jwt.token"))
    assert await identity.owner(credential_from_header("Bearer token-a")) == "alice"


@pytest.mark.parametrize("header", ["Bearer token-x", "Bearer expired.jwt.token", "Basic YWxpY2U6eA==", "Bearer"])
async def test_a_token_sent_but_not_accepted_is_refused_even_with_anonymous_use(header: str) -> None:
    with pytest.raises(UnauthenticatedError):
        await service(anonymous=True, verifier=FakeVerifier()).owner(credential_from_header(header))


async def test_without_a_token_the_caller_is_anonymous_only_when_allowed() -> None:
    assert await service(anonymous=True).owner(credential_from_header(None)) is None
    with pytest.raises(UnauthenticatedError, match="Authentication required"):
        await service(anonymous=False).owner(credential_from_header(None))
    with pytest.raises(UnauthenticatedError, match="not known"):
        await service(anonymous=False).owner(credential_from_header("Bearer some.jwt.value"))


def test_development_allows_anonymous_use_and_static_tokens_by_default() -> None:
    settings = Settings(static_tokens=SecretStr('{"token-a": "alice"}'))
    assert settings.anonymous_allowed and settings.token_users == {"token-a": "alice"}
    assert "token-a" not in str(settings.model_dump(mode="json"))


@pytest.mark.parametrize(("fields", "why"), [
    ({"allow_anonymous": True}, "anonymous use is refused in production"),
    ({"allow_anonymous": False, "static_tokens": SecretStr('{"t": "u"}')}, "static_tokens are refused"),
    ({"allow_anonymous": False}, "production needs oidc_issuer"),
    ({"allow_anonymous": False, "oidc_issuer": "https://iam.example"}, "oidc_audience is required"),
    ({"allow_anonymous": False, "oidc_issuer": "http://iam.example", "oidc_audience": "esap",
      "public_base_url": PUBLIC}, "oidc_issuer must be an https URL"),
    ({"allow_anonymous": False, "oidc_issuer": "https://iam.example", "oidc_audience": "esap",
      "oidc_jwks_url": "http://iam.example/jwks", "public_base_url": PUBLIC}, "oidc_jwks_url must be an https URL"),
    ({"allow_anonymous": False, "oidc_issuer": "https://iam.example", "oidc_audience": "esap"},
     "production needs public_base_url"),
])
def test_production_refuses_unsafe_identity(fields: dict[str, object], why: str) -> None:
    with pytest.raises(ValidationError, match=why):
        Settings(environment=Environment.PRODUCTION, amqp_url=SAFE_AMQP, **fields)  # type: ignore[arg-type]


def test_production_with_oidc_or_an_explicit_choice_starts() -> None:
    oidc = Settings(environment=Environment.PRODUCTION, amqp_url=SAFE_AMQP, oidc_issuer="https://iam.example",
                    oidc_audience="esap", public_base_url=PUBLIC)
    assert not oidc.anonymous_allowed
    chosen = Settings(environment=Environment.PRODUCTION, amqp_url=SAFE_AMQP, allow_unsafe_identity=True,
                      allow_anonymous=True, static_tokens=SecretStr('{"t": "u"}'), public_base_url=PUBLIC)
    assert chosen.anonymous_allowed and chosen.token_users == {"t": "u"}


@pytest.mark.parametrize("value", ['["t"]', '{"t": 1}', "{not json", '{"": "u"}'])
def test_a_malformed_token_map_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="static_tokens"):
        Settings(static_tokens=SecretStr(value))


def test_the_console_cookie_is_secure_in_production_and_cannot_be_made_plain_there() -> None:
    assert ConsoleSettings(environment=Environment.PRODUCTION, amqp_url=SAFE_AMQP).cookie_secure
    assert not ConsoleSettings().cookie_secure
    assert ConsoleSettings(console_cookie_secure=True).cookie_secure
    with pytest.raises(ValidationError, match="console_cookie_secure=false is refused in production"):
        ConsoleSettings(environment=Environment.PRODUCTION, amqp_url=SAFE_AMQP, console_cookie_secure=False)


@pytest.mark.parametrize("value", ["batch.example.org", "ftp://batch.example.org", "https://batch.example.org/?x=1",
                                   "https:///path"])
def test_a_public_base_url_that_is_no_absolute_http_url_is_refused(value: str) -> None:
    with pytest.raises(ValidationError, match="public_base_url must be an absolute"):
        Settings(public_base_url=value)

"""OIDC access tokens (JWTs) checked against the issuer's keys: signature, issuer, audience, expiry.

Keys come from the issuer's JWKS (its URL configured, or read from ``<issuer>/.well-known/openid-configuration``),
fetched with the app's aiohttp session and kept for ``cache_seconds``; a token naming a key id not in the set
makes one early re-read (at most every ``MIN_REFRESH_SECONDS``), so a key rotation is picked up at once.
Verification itself is PyJWT's. Must not depend on the services or on FastAPI; it knows no UWS rule.
"""

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import jwt
import structlog

from esap_gateway.adapters.tokens import IdentityProviderUnavailableError, InvalidTokenError

log = structlog.get_logger("esap.gateway.tokens")

MIN_REFRESH_SECONDS = 10.0
FETCH_TIMEOUT_SECONDS = 10.0


class JwtVerifier:
    def __init__(self, session: aiohttp.ClientSession, *, issuer: str, audience: str, jwks_url: str | None,
                 claim: str, algorithms: Sequence[str], leeway: float, cache_seconds: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._session = session
        self._issuer = issuer
        self._audience = audience
        self._jwks_url = jwks_url
        self._claim = claim
        self._algorithms = list(algorithms)
        self._leeway = leeway
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()

    async def identity(self, token: str) -> str:
        """The configured claim of a valid token; raises InvalidTokenError otherwise."""
        return (await self.caller(token))[0]

    async def caller(self, token: str) -> tuple[str, str | None]:
        """The configured claim of a valid token and its ``email`` claim (None when absent)."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise InvalidTokenError("The bearer token is not a JWT.") from None
        key = await self._key(header.get("kid"))
        try:
            claims = jwt.decode(token, key, algorithms=self._algorithms, audience=self._audience,
                                issuer=self._issuer, leeway=self._leeway,
                                options={"require": ["exp", "iss", "aud"]})
        except jwt.ExpiredSignatureError:
            raise InvalidTokenError("The token has expired.") from None
        except jwt.InvalidIssuerError:
            raise InvalidTokenError("The token is from another issuer.") from None
        except jwt.InvalidAudienceError:
            raise InvalidTokenError("The token is not meant for this service (audience).") from None
        except jwt.PyJWTError as exc:
            raise InvalidTokenError(f"The token is not valid: {exc}.") from None
        value = claims.get(self._claim)
        if not isinstance(value, str) or not value:
            raise InvalidTokenError(f"The token has no {self._claim!r} claim.")
        email = claims.get("email")
        return value, email if isinstance(email, str) and email else None

    async def _key(self, kid: Any) -> jwt.PyJWK:
        fresh = self._fetched_at is not None and self._clock() - self._fetched_at < self._cache_seconds
        known = self._lookup(kid)
        if known is not None and fresh:
            return known
        async with self._lock:
            known = self._lookup(kid)
            stale = self._fetched_at is None or self._clock() - self._fetched_at >= self._cache_seconds
            recent = self._fetched_at is not None and self._clock() - self._fetched_at < MIN_REFRESH_SECONDS
            if stale or (known is None and not recent):
                await self._refresh()
                known = self._lookup(kid)
        if known is None:
            raise InvalidTokenError("The token is signed with a key the issuer does not publish.")
        return known

    def _lookup(self, kid: Any) -> jwt.PyJWK | None:
        if kid is None and len(self._keys) == 1:
            return next(iter(self._keys.values()))
        return self._keys.get(kid) if isinstance(kid, str) else None

    async def _refresh(self) -> None:
        url = self._jwks_url or (await self._get_json(self._discovery_url())).get("jwks_uri")
        if not isinstance(url, str):
            raise IdentityProviderUnavailableError("the issuer's OpenID configuration has no jwks_uri")
        self._jwks_url = url
        document = await self._get_json(url)
        keys: dict[str, jwt.PyJWK] = {}
        for entry in document.get("keys", []):
            if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
                continue
            try:
                key = jwt.PyJWK(entry)
            except jwt.PyJWTError as exc:
                log.warning("Skipped a key of the JWKS.", kid=entry.get("kid"), error=str(exc))
                continue
            keys[str(entry.get("kid", ""))] = key
        self._keys = keys
        self._fetched_at = self._clock()
        log.info("Identity provider keys read.", keys=len(keys), url=url)

    def _discovery_url(self) -> str:
        return f"{self._issuer.rstrip('/')}/.well-known/openid-configuration"

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            async with self._session.get(url, timeout=aiohttp.ClientTimeout(total=FETCH_TIMEOUT_SECONDS)) as r:
                if r.status != 200:
                    raise IdentityProviderUnavailableError(f"{url} answered {r.status}")
                body = await r.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("Identity provider unreachable.", url=url, error=repr(exc))
            raise IdentityProviderUnavailableError(f"{url} could not be read") from exc
        if not isinstance(body, dict):
            raise IdentityProviderUnavailableError(f"{url} is not a JSON object")
        return body

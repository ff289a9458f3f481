"""Sign-in through the configured OIDC provider: authorization code with PKCE (RFC 7636, S256).

``new_attempt`` makes the state and the code verifier kept (in an HttpOnly cookie) between the redirect to the
provider and its return; ``OidcClient`` finds the provider's endpoints and exchanges the code for an access
token, which the gateway then checks like any bearer token (issuer, audience, signature).
Must not depend on FastAPI or on the console's routes; the token exchange is a port (``CodeExchanger``).
"""

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import urlencode

import aiohttp


class SignInError(Exception):
    """The provider refused the sign-in, or could not be reached."""


@dataclass(frozen=True)
class SignInAttempt:
    state: str
    verifier: str

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode("ascii")).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def new_attempt() -> SignInAttempt:
    return SignInAttempt(state=secrets.token_urlsafe(24), verifier=secrets.token_urlsafe(48))


class CodeExchanger(Protocol):
    async def authorization_url(self, attempt: SignInAttempt, redirect_uri: str) -> str: ...

    async def exchange(self, code: str, attempt: SignInAttempt, redirect_uri: str) -> str:
        """The access token for ``code``; SignInError when refused."""
        ...


class OidcClient:
    """The console as an OIDC client of ``issuer`` (public with PKCE, or confidential with a secret)."""

    def __init__(self, session: aiohttp.ClientSession, *, issuer: str, client_id: str, client_secret: str | None,
                 scopes: str, authorization_url: str | None = None, token_url: str | None = None,
                 timeout: float = 10.0) -> None:
        self._session = session
        self._issuer = issuer.rstrip("/")
        self._client_id = client_id
        self._client_secret = client_secret
        self._scopes = scopes
        self._endpoints = (authorization_url, token_url) if authorization_url and token_url else None
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def authorization_url(self, attempt: SignInAttempt, redirect_uri: str) -> str:
        endpoint, _ = await self._discover()
        query = urlencode({
            "response_type": "code", "client_id": self._client_id, "redirect_uri": redirect_uri,
            "scope": self._scopes, "state": attempt.state, "code_challenge": attempt.challenge,
            "code_challenge_method": "S256",
        })
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def exchange(self, code: str, attempt: SignInAttempt, redirect_uri: str) -> str:
        _, endpoint = await self._discover()
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
                "client_id": self._client_id, "code_verifier": attempt.verifier}
        if self._client_secret:
            form["client_secret"] = self._client_secret
        try:
            async with self._session.post(endpoint, data=form, timeout=self._timeout) as response:
                body = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise SignInError(f"the identity provider could not be reached: {exc!r}") from exc
        token = body.get("access_token") if isinstance(body, dict) else None
        if response.status != 200 or not isinstance(token, str):
            reason = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
            raise SignInError(f"the identity provider refused the sign-in ({reason or response.status})")
        return token

    async def _discover(self) -> tuple[str, str]:
        if self._endpoints is None:
            url = f"{self._issuer}/.well-known/openid-configuration"
            try:
                async with self._session.get(url, timeout=self._timeout) as response:
                    found = await response.json(content_type=None)
                self._endpoints = (str(found["authorization_endpoint"]), str(found["token_endpoint"]))
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, TypeError) as exc:
                raise SignInError(f"the identity provider's configuration cannot be read: {exc!r}") from exc
        return self._endpoints

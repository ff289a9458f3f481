"""Who is calling: the owner a request acts as, from its bearer token (a static development token or an OIDC
JWT), or anonymous (``None``) when no token is sent and anonymous use is allowed.

A token that is sent but not accepted is refused (401), even where anonymous use is allowed: a caller who
meant to be someone must not silently become no one.
Must not depend on FastAPI or on a concrete client: the JWT check is a port (``TokenVerifier``).
"""

import hmac
from collections.abc import Mapping
from typing import Protocol

import structlog

from esap_gateway.adapters.tokens import InvalidTokenError
from esap_gateway.domain.errors import UnauthenticatedError
from esap_gateway.domain.identity import Caller, Credential
from esap_gateway.metrics import GatewayMetrics

log = structlog.get_logger("esap.gateway.identity")

class TokenVerifier(Protocol):
    async def identity(self, token: str) -> str: ...


class IdentityService:
    def __init__(self, *, static_tokens: Mapping[str, str], allow_anonymous: bool,
                 verifier: TokenVerifier | None, metrics: GatewayMetrics) -> None:
        self._static = dict(static_tokens)
        self._static_users = frozenset(static_tokens.values())
        self._anonymous = allow_anonymous
        self._verifier = verifier
        self._metrics = metrics

    async def owner(self, credential: Credential) -> str | None:
        return (await self.caller(credential)).owner

    async def caller(self, credential: Credential) -> Caller:
        """The owner, and the e-mail address an OIDC token names (its ``email`` claim)."""
        if credential.malformed:
            self._count("malformed")
            raise UnauthenticatedError("Send the token as 'Authorization: Bearer <token>'.")
        token = credential.token
        if token is None:
            if self._anonymous:
                return Caller(None)
            self._count("missing")
            raise UnauthenticatedError("Authentication required: send 'Authorization: Bearer <token>'.")
        user = self._static_user(token)
        if user is not None:
            return Caller(user)
        if self._verifier is None:
            self._count("unknown")
            raise UnauthenticatedError("The token is not known to this service.")
        try:
            verified = getattr(self._verifier, "caller", None)
            owner, email = await verified(token) if verified else (await self._verifier.identity(token), None)
        except InvalidTokenError as exc:
            self._count("invalid")
            log.info("Token refused.", reason=str(exc))
            raise UnauthenticatedError(str(exc)) from None
        if owner in self._static_users:
            # Two sources must never name one owner: the identity provider's user would see the development
            # token user's jobs (or the other way round).
            self._count("invalid")
            log.warning("Token refused: its owner is also a static token's user.", owner=owner)
            raise UnauthenticatedError("This identity is also a development token's user here; it is refused.")
        return Caller(owner, email)

    def _static_user(self, token: str) -> str | None:
        found = None
        for known, user in self._static.items():  # compared in constant time, all of them
            if hmac.compare_digest(known.encode(), token.encode()):
                found = user
        return found

    def _count(self, reason: str) -> None:
        self._metrics.auth_refused.labels(reason).inc()

"""What a request presents as its credentials, read once at the edge: a bearer token, nothing, or something that is
no bearer token. The identity service decides who that is; the console presents its cookie's token the same way.
Must not depend on anything: pure values.
"""

import re
from dataclasses import dataclass

_BEARER = re.compile(r"Bearer +([\x21-\x7e]{1,8192})", re.IGNORECASE)


@dataclass(frozen=True)
class Credential:
    token: str | None
    """None: no credential at all."""
    malformed: bool = False
    """Something was sent that is not ``Bearer <token>``."""


NO_CREDENTIAL = Credential(None)


def bearer(token: str | None) -> Credential:
    """A token held apart (the console's cookie, a sign-in's exchange), presented as a bearer credential."""
    return Credential(token.strip()) if token and token.strip() else NO_CREDENTIAL


def credential_from_header(authorization: str | None) -> Credential:
    """The ``Authorization`` header's credential."""
    if not authorization:
        return NO_CREDENTIAL
    match = _BEARER.fullmatch(authorization.strip())
    return Credential(match.group(1)) if match else Credential(None, malformed=True)


@dataclass(frozen=True)
class Caller:
    """Who a request acts as: the owner (None: anonymous) and, when their token says it, their e-mail address."""

    owner: str | None
    email: str | None = None

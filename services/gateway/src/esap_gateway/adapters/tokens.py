"""What checking an access token can end in, apart from an identity: shared by the token verifiers and the
services, without loading any of them (PyJWT and cryptography cost about 8 MiB, and only an OIDC deployment needs
them: see esap_gateway.adapters.jwt_tokens).
"""


class InvalidTokenError(Exception):
    """The token is not one this service accepts; the message says why, for the 401 answer."""


class IdentityProviderUnavailableError(Exception):
    """The issuer's keys could not be read: no token can be checked now."""

"""What the console needs besides the gateway's services: its settings, the catalogue lists and, when OIDC is
configured, the sign-in client. Built once per app in the gateway's lifespan (``open_console``).

Must not depend on the console's routes; it only builds the parts.
"""

from contextlib import AsyncExitStack
from dataclasses import dataclass

import aiohttp

from esap_gateway.config import Settings
from esap_gateway.console.catalogue import CatalogueLister, HttpCatalogueLister
from esap_gateway.console.oidc import CodeExchanger, OidcClient
from esap_gateway.console.settings import ConsoleSettings
from esap_runtime.internal_http import InternalHttpClient


@dataclass(frozen=True)
class ConsoleResources:
    settings: ConsoleSettings
    catalogue: CatalogueLister
    sign_in: CodeExchanger | None
    """None: no OIDC provider configured (static tokens or anonymous use only)."""


async def open_console(stack: AsyncExitStack, http: InternalHttpClient, settings: Settings,
                       console_settings: ConsoleSettings | None = None) -> ConsoleResources:
    """``http``: the gateway's client of the catalog; the sign-in, to the identity provider, has a session of its
    own."""
    own = console_settings or ConsoleSettings()
    session = await stack.enter_async_context(aiohttp.ClientSession())
    catalogue = HttpCatalogueLister(http, settings.catalog_url, ttl=settings.catalogue_cache_seconds,
                                    timeout=settings.catalog_timeout_seconds)
    sign_in = None
    if settings.oidc_issuer and own.oidc_client_id:
        secret = own.oidc_client_secret.get_secret_value() if own.oidc_client_secret else None
        sign_in = OidcClient(session, issuer=settings.oidc_issuer, client_id=own.oidc_client_id,
                             client_secret=secret, scopes=own.oidc_scopes,
                             authorization_url=own.oidc_authorization_url, token_url=own.oidc_token_url)
    return ConsoleResources(own, catalogue, sign_in)

"""The console's OIDC client against a tiny identity provider on loopback (discovery, authorization URL, code
exchange with PKCE verified by the provider)."""

import base64
import hashlib
from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web

from esap_gateway.console.oidc import OidcClient, SignInError, new_attempt

REDIRECT = "http://console.test/signin/callback"


@pytest.fixture
async def provider() -> AsyncIterator[tuple[str, dict[str, str]]]:
    """An issuer that hands out code "c1" for one challenge and answers the token request once it matches."""
    issued: dict[str, str] = {}

    async def configuration(request: web.Request) -> web.Response:
        base = str(request.url.origin())
        return web.json_response({"issuer": base, "authorization_endpoint": f"{base}/authorize",
                                  "token_endpoint": f"{base}/token"})

    async def token(request: web.Request) -> web.Response:
        form = await request.post()
        digest = hashlib.sha256(str(form["code_verifier"]).encode()).digest()
        challenge = base64.urlsafe_b64encode(digest).decode().rstrip("=")
        if form["code"] != "c1" or challenge != issued.get("challenge") or form["redirect_uri"] != REDIRECT:
            return web.json_response({"error": "invalid_grant"}, status=400)
        return web.json_response({"access_token": "the-access-token", "token_type": "Bearer"})

    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", configuration)
    app.router.add_post("/token", token)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}", issued
    finally:
        await runner.cleanup()


async def test_code_flow_with_pkce(provider: tuple[str, dict[str, str]]) -> None:
    issuer, issued = provider
    async with aiohttp.ClientSession() as session:
        client = OidcClient(session, issuer=issuer, client_id="console", client_secret=None, scopes="openid")
        attempt = new_attempt()
        url = await client.authorization_url(attempt, REDIRECT)
        assert url.startswith(f"{issuer}/authorize?")
        query = parse_qs(urlsplit(url).query)
        assert query["code_challenge_method"] == ["S256"] and query["client_id"] == ["console"]
        assert "code_verifier" not in query and query["state"] == [attempt.state]
        issued["challenge"] = query["code_challenge"][0]
        assert await client.exchange("c1", attempt, REDIRECT) == "the-access-token"
        with pytest.raises(SignInError, match="invalid_grant"):
            await client.exchange("c1", new_attempt(), REDIRECT)  # another verifier: refused

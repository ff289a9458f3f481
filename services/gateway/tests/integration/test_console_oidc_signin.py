"""Signing in to the console through a tiny OIDC provider on loopback: the console redirects with a PKCE
challenge, the provider returns a code, the console exchanges it (the provider checks the verifier) for an
RS256 access token, and the gateway checks that token against the provider's JWKS like any bearer token."""

import base64
import hashlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import httpx
import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from esap_gateway.config import Settings
from esap_gateway.console.settings import ConsoleSettings
from esap_gateway.main import create_app
from esap_messages import Phase

AUDIENCE = "esap-batch"
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class Provider:
    """Authorization, token, JWKS and discovery endpoints; one user, "carol"."""

    def __init__(self) -> None:
        self.url = ""
        self.codes: dict[str, tuple[str, str]] = {}  # code -> (challenge, redirect_uri)

    async def configuration(self, _request: web.Request) -> web.Response:
        return web.json_response({"issuer": self.url, "authorization_endpoint": f"{self.url}/authorize",
                                  "token_endpoint": f"{self.url}/token", "jwks_uri": f"{self.url}/keys"})

    async def keys(self, _request: web.Request) -> web.Response:
        public = json.loads(RSAAlgorithm.to_jwk(KEY.public_key()))
        return web.json_response({"keys": [{**public, "kid": "k1", "use": "sig", "alg": "RS256"}]})

    async def authorize(self, request: web.Request) -> web.Response:
        query = request.query
        assert query["response_type"] == "code" and query["code_challenge_method"] == "S256"
        code = f"code-{len(self.codes)}"
        self.codes[code] = (query["code_challenge"], query["redirect_uri"])
        raise web.HTTPFound(f"{query['redirect_uri']}?{urlencode({'code': code, 'state': query['state']})}")

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        challenge, redirect_uri = self.codes.pop(str(form["code"]), ("", ""))
        digest = hashlib.sha256(str(form["code_verifier"]).encode()).digest()
        if base64.urlsafe_b64encode(digest).decode().rstrip("=") != challenge or form["redirect_uri"] != redirect_uri:
            return web.json_response({"error": "invalid_grant"}, status=400)
        now = int(time.time())
        claims = {"iss": self.url, "aud": AUDIENCE, "sub": "carol", "iat": now, "exp": now + 300}
        access = jwt.encode(claims, KEY, algorithm="RS256", headers={"kid": "k1"})
        return web.json_response({"access_token": access, "token_type": "Bearer", "expires_in": 300})


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    state = Provider()
    app = web.Application()
    app.router.add_get("/.well-known/openid-configuration", state.configuration)
    app.router.add_get("/keys", state.keys)
    app.router.add_get("/authorize", state.authorize)
    app.router.add_post("/token", state.token)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state.url = str(server.make_url("")).rstrip("/")
    try:
        yield state
    finally:
        await server.close()


@pytest.fixture
async def console(work_root: Path, provider: Provider, catalog: Any,
                  publisher: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(local_work_root=work_root, allow_anonymous=False, oidc_issuer=provider.url,
                        oidc_audience=AUDIENCE)
    app = create_app(settings, catalog=catalog, publisher=publisher,
                     console_settings=ConsoleSettings(oidc_client_id="esap-console"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://console.test") as http:
            yield http


async def test_sign_in_through_the_provider(console: httpx.AsyncClient, make_job: Any) -> None:
    job = make_job(owner="carol", phase=Phase.COMPLETED)
    page = await console.get("/signin")
    assert 'id="oidc-signin"' in page.text
    start = await console.get("/signin/oidc", params={"next": f"/jobs/{job.job_id}"})
    assert start.status_code == 303
    async with (aiohttp.ClientSession() as browser,  # the provider's side, over real HTTP
                browser.get(start.headers["location"], allow_redirects=False) as answer):
        back = answer.headers["Location"]
    assert back.startswith("http://console.test/signin/callback?")
    done = await console.get(f"/signin/callback?{urlsplit(back).query}")
    assert done.status_code == 303, done.text
    assert done.headers["location"] == f"/jobs/{job.job_id}"
    assert (await console.get(f"/jobs/{job.job_id}")).status_code == 200  # carol's job, as carol
    replay = await console.get("/signin/callback", params=parse_qs(urlsplit(back).query))
    assert replay.status_code == 400  # the attempt was used up

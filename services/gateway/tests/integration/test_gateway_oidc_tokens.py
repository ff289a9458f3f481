"""OIDC bearer tokens against a JWKS served by a local aiohttp server, with keys minted by the test: a valid
token names the owner; an expired one, one from another issuer, for another audience, or signed by another
key is refused with 401. The issuer's OpenID configuration is read when no JWKS URL is configured."""

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from esap_gateway.config import Settings
from esap_messages import Phase

AUDIENCE = "esap-batch"
KID = "key-1"


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


SIGNING_KEY = rsa_key()
OTHER_KEY = rsa_key()


class Issuer:
    """A JWKS endpoint and an OpenID configuration, counting the JWKS reads."""

    def __init__(self) -> None:
        self.url = ""
        self.jwks_reads = 0

    async def jwks(self, _request: web.Request) -> web.Response:
        self.jwks_reads += 1
        public = json.loads(RSAAlgorithm.to_jwk(SIGNING_KEY.public_key()))
        return web.json_response({"keys": [{**public, "kid": KID, "use": "sig", "alg": "RS256"}]})

    async def configuration(self, _request: web.Request) -> web.Response:
        return web.json_response({"issuer": self.url, "jwks_uri": f"{self.url}/keys"})


@pytest.fixture
async def issuer() -> AsyncIterator[Issuer]:
    state = Issuer()
    app = web.Application()
    app.router.add_get("/keys", state.jwks)
    app.router.add_get("/.well-known/openid-configuration", state.configuration)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    state.url = str(server.make_url("")).rstrip("/")
    try:
        yield state
    finally:
        await server.close()


@pytest.fixture
def settings(work_root: Path, issuer: Issuer) -> Settings:
    return Settings(local_work_root=work_root, allow_anonymous=False, oidc_issuer=issuer.url,
                    oidc_audience=AUDIENCE, oidc_owner_claim="preferred_username", oidc_leeway_seconds=0)


def token(issuer: Issuer, *, key: rsa.RSAPrivateKey = SIGNING_KEY, kid: str = KID, **claims: Any) -> str:
    now = int(time.time())
    body = {"iss": issuer.url, "aud": AUDIENCE, "sub": "u-1", "preferred_username": "alice", "iat": now,
            "exp": now + 300, **claims}
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": kid})


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def test_a_valid_token_names_the_owner(client, issuer, make_job, uws_job) -> None:
    mine = make_job(owner="alice", phase=Phase.EXECUTING)
    theirs = make_job(owner="bob")

    job = uws_job(await client.get(f"/uws/jobs/{mine.job_id}", headers=bearer(token(issuer))))
    assert job.ownerid == "alice"
    refused = await client.get(f"/uws/jobs/{theirs.job_id}", headers=bearer(token(issuer)))
    assert refused.status_code == 403 and "another user" in refused.text
    await client.get("/uws/jobs", headers=bearer(token(issuer)))
    assert issuer.jwks_reads == 1  # the keys are kept


@pytest.mark.parametrize(("change", "why"), [
    ({"exp": int(time.time()) - 60}, "expired"),
    ({"iss": "https://elsewhere.example"}, "another issuer"),
    ({"aud": "someone-else"}, "audience"),
    ({"key": OTHER_KEY}, "not valid"),
    ({"kid": "unknown-key"}, "does not publish"),
    ({"preferred_username": None}, "no 'preferred_username' claim"),
])
async def test_tokens_that_do_not_hold_are_refused_with_401(client, issuer, make_job, change, why) -> None:
    job = make_job(owner="alice")
    claims = {k: v for k, v in change.items() if k not in ("key", "kid")}
    signing = {k: v for k, v in change.items() if k in ("key", "kid")}
    value = token(issuer, **signing, **claims)

    response = await client.get(f"/uws/jobs/{job.job_id}", headers=bearer(value))

    assert response.status_code == 401 and why in response.text
    assert response.headers["www-authenticate"] == "Bearer"


async def test_without_a_token_anonymous_use_is_refused_when_off(client, make_job, catalog) -> None:
    response = await client.get("/uws/jobs")
    assert response.status_code == 401
    assert (await client.get("/uws/jobs", headers=bearer("not-a-jwt"))).status_code == 401
    assert catalog.calls_to("list_jobs") == []

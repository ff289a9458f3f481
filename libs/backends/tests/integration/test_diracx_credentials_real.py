"""A diracx-client credentials file against a real DiracX 0.7.0: its token used, refreshed and written back."""

import base64
import json
import stat
import time
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr, ValidationError

from esap_backends.diracx import devserver
from esap_backends.diracx.client import DiracXClient, DiracXIdentity
from esap_backends.diracx.devserver import DevServer
from esap_backends.diracx.settings import DiracXSettings, build_diracx_backend

IDENTITY = DiracXIdentity(vo=devserver.VO, group=devserver.USER_GROUP, username=devserver.USER)


async def token_pair(server: DevServer, session: aiohttp.ClientSession) -> dict[str, object]:
    """What the legacy exchange answers: an access token, its lifetime and a refresh token."""
    raw = base64.urlsafe_b64encode(server.api_key.encode()).decode("ascii")
    async with session.get(f"{server.url}/api/auth/legacy-exchange",
                           params={"preferred_username": IDENTITY.username, "scope": IDENTITY.scope},
                           headers={"Authorization": f"Bearer diracx:legacy:{raw}"}) as response:
        assert response.status == 200, await response.text()
        answer: dict[str, object] = await response.json()
    assert answer.get("refresh_token")
    return answer


def write_file(path: Path, access_token: object, refresh_token: object, expires_on: float) -> None:
    path.write_text(json.dumps({"access_token": access_token, "refresh_token": refresh_token,
                                "expires_on": int(expires_on)}))
    path.chmod(0o600)


async def search_works(client: DiracXClient) -> None:
    rows = await client.search(("JobID",), [{"parameter": "JobID", "operator": "eq", "value": 0}])
    assert rows == []


async def test_an_expired_token_is_refreshed_and_written_back(diracx_server: DevServer, tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    async with aiohttp.ClientSession() as session:
        pair = await token_pair(diracx_server, session)
        write_file(path, pair["access_token"], pair["refresh_token"], time.time() - 60)
        settings = DiracXSettings(diracx_url=diracx_server.url, diracx_credentials_path=path,
                                  diracx_vo=IDENTITY.vo, diracx_group=IDENTITY.group,
                                  diracx_username=IDENTITY.username)
        backend = build_diracx_backend(settings, session, workflows_dir=None, gateway_url=None, results_root=None)
        assert backend is not None
        await search_works(backend.client)
        assert backend.client.refreshes == 1
        written = json.loads(path.read_text())
        assert set(written) == {"access_token", "refresh_token", "expires_on"}
        assert written["access_token"] != pair["access_token"]
        assert written["refresh_token"]
        assert written["expires_on"] > time.time() + 60
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        await search_works(backend.client)  # the fresh token is used as it is
        assert backend.client.refreshes == 1


async def test_processes_sharing_a_file_refresh_it_once(diracx_server: DevServer, tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    async with aiohttp.ClientSession() as session:
        pair = await token_pair(diracx_server, session)
        write_file(path, pair["access_token"], pair["refresh_token"], time.time() - 60)
        first, second = (DiracXClient(session, diracx_server.url, None, IDENTITY, credentials_path=path)
                         for _ in range(2))
        await search_works(first)
        await search_works(second)
    assert (first.refreshes, second.refreshes) == (1, 0)


async def test_a_refused_token_is_refreshed_once(diracx_server: DevServer, tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    async with aiohttp.ClientSession() as session:
        pair = await token_pair(diracx_server, session)
        write_file(path, "not-a-token", pair["refresh_token"], time.time() + 3600)
        client = DiracXClient(session, diracx_server.url, None, IDENTITY, credentials_path=path)
        await search_works(client)
    assert client.refreshes == 1
    assert json.loads(path.read_text())["access_token"] != "not-a-token"


def test_exactly_one_credential_with_a_url(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="exactly one of diracx_api_key"):
        DiracXSettings(diracx_url="http://dirac.example")
    with pytest.raises(ValidationError, match="exactly one of diracx_api_key"):
        DiracXSettings(diracx_url="http://dirac.example", diracx_api_key=SecretStr("k"),
                       diracx_credentials_path=tmp_path / "c.json")
    assert DiracXSettings(diracx_url="http://dirac.example", diracx_credentials_path=tmp_path / "c.json")
    assert DiracXSettings().diracx_url is None

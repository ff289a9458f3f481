"""The DiracX credentials file: diracx-client's format, written atomically with mode 0600, and a missing or
broken file reported as a transient backend error (no request made)."""

import json
import stat
from pathlib import Path

import aiohttp
import pytest

from esap_backends import BackendError
from esap_backends.diracx.client import DiracXClient, DiracXIdentity
from esap_backends.diracx.credentials import (
    EXPIRES_GRACE_SECONDS,
    Credentials,
    CredentialsError,
    read_credentials,
    write_credentials,
)

IDENTITY = DiracXIdentity(vo="esap", group="esap_user", username="esap")


def test_written_as_diracx_client_writes_it(tmp_path: Path) -> None:
    path = tmp_path / "credentials.json"
    path.write_text("old")
    fresh = Credentials.from_token_response({"access_token": "a", "expires_in": 3600, "refresh_token": "r"},
                                            now=1000.0)
    assert fresh.expires_on == 1000 + 3600 - EXPIRES_GRACE_SECONDS
    write_credentials(path, fresh)
    assert json.loads(path.read_text()) == {"access_token": "a", "refresh_token": "r", "expires_on": fresh.expires_on}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["credentials.json"]  # no temporary file left behind
    assert read_credentials(path) == fresh


def test_a_refresh_answer_without_a_refresh_token_keeps_the_previous_one() -> None:
    previous = Credentials("a", "r", 0)
    fresh = Credentials.from_token_response({"access_token": "b", "expires_in": 60}, now=0.0, previous=previous)
    assert fresh.refresh_token == "r" and fresh.access_token == "b"
    with pytest.raises(CredentialsError):
        Credentials.from_token_response({"detail": "no"}, now=0.0)


@pytest.mark.parametrize("content", [None, "not json", '{"access_token": "a"}', "no directory"])
async def test_a_missing_or_broken_file_is_a_transient_error(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "credentials.json"
    if content == "no directory":
        path = tmp_path / "missing" / "credentials.json"
    elif content is not None:
        path.write_text(content)
    async with aiohttp.ClientSession() as session:
        client = DiracXClient(session, "http://127.0.0.1:9", None, IDENTITY, credentials_path=path)
        with pytest.raises(BackendError, match="credentials"):
            await client.search(("JobID",), [])
    assert client.calls == 0


def test_exactly_one_way_to_authenticate() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        DiracXClient(None, "http://x", None, IDENTITY)  # type: ignore[arg-type]

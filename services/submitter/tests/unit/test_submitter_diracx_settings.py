"""The submitter builds a DiracX backend from its settings only when a DiracX URL is configured."""

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from esap_backends import ManagedBackend
from esap_backends.diracx import DiracXBackend
from esap_runtime.internal_http import InternalHttpClient
from esap_submitter.config import Settings
from esap_submitter.factory import build_backends
from esap_submitter.metrics import SubmitterMetrics


def built(settings: Settings, session: aiohttp.ClientSession) -> dict[str, ManagedBackend]:
    """The submitter's backends, its callbacks and DiracX both over ``session``."""
    http = InternalHttpClient(session, session)
    return build_backends(settings, session, http, SubmitterMetrics(CollectorRegistry()))


async def test_without_a_url_there_is_no_diracx_backend(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("ESAP_DIRACX_URL", raising=False)
    monkeypatch.delenv("SUBMITTER_DIRACX_URL", raising=False)
    async with aiohttp.ClientSession() as session:
        backends = built(Settings(local_work_root=tmp_path), session)
    assert set(backends) == {"local"}


async def test_the_common_prefix_configures_diracx_and_its_placement(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ESAP_DIRACX_URL", "http://dirac.example:8000")
    monkeypatch.setenv("ESAP_DIRACX_API_KEY", "raw-key")
    monkeypatch.setenv("SUBMITTER_DIRACX_SITES", "LCG.IN2P3-CC.fr, LCG.CNAF.it")
    monkeypatch.setenv("ESAP_DIRACX_TAGS", "docker")
    settings = Settings(local_work_root=tmp_path)
    assert settings.diracx_api_key is not None and settings.diracx_api_key.get_secret_value() == "raw-key"
    placement = settings.diracx_placement()
    assert placement.sites == ("LCG.IN2P3-CC.fr", "LCG.CNAF.it") and placement.tags == ("docker",)
    async with aiohttp.ClientSession() as session:
        backends = built(settings, session)
    assert isinstance(backends["diracx"], DiracXBackend)
    assert "raw-key" not in repr(settings)


async def test_a_url_without_a_key_is_refused(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SUBMITTER_DIRACX_URL", "http://dirac.example:8000")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ValueError, match="diracx_api_key"):
            built(Settings(local_work_root=tmp_path), session)

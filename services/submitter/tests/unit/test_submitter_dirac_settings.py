"""The submitter builds a classic DIRAC backend from its settings only when a DIRAC setup is configured."""

from pathlib import Path

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from esap_backends import ManagedBackend
from esap_backends.dirac import DiracBackend
from esap_backends.registry import HOLDS_ON_OUTAGE
from esap_runtime.internal_http import InternalHttpClient
from esap_submitter.config import Settings
from esap_submitter.factory import build_backends
from esap_submitter.metrics import SubmitterMetrics

DIRAC_VARS = ("DIRAC_SETUP", "DIRAC_CONFIG_SERVER", "DIRAC_CFG", "DIRAC_PROXY_PATH", "DIRAC_SITES")


def built(settings: Settings, session: aiohttp.ClientSession) -> dict[str, ManagedBackend]:
    """The submitter's backends, its callbacks and DiracX both over ``session``."""
    http = InternalHttpClient(session, session)
    return build_backends(settings, session, http, SubmitterMetrics(CollectorRegistry()))


@pytest.fixture(autouse=True)
def _no_dirac_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in DIRAC_VARS:
        for prefix in ("ESAP_", "SUBMITTER_"):
            monkeypatch.delenv(prefix + name, raising=False)


async def test_without_a_setup_there_is_no_dirac_backend(tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as session:
        backends = built(Settings(local_work_root=tmp_path), session)
    assert "dirac" not in backends


async def test_the_common_prefix_configures_dirac_its_bridge_and_placement(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = tmp_path / "x509up_u1000"
    monkeypatch.setenv("ESAP_DIRAC_SETUP", "CTAO-Production")
    monkeypatch.setenv("ESAP_DIRAC_CONFIG_SERVER", "dips://cs.example:9135/Configuration/Server")
    monkeypatch.setenv("SUBMITTER_DIRAC_PROXY_PATH", str(proxy))
    monkeypatch.setenv("SUBMITTER_DIRAC_SITES", "LCG.IN2P3-CC.fr, LCG.CNAF.it")
    monkeypatch.setenv("ESAP_DIRAC_VENV", str(tmp_path / "venv"))
    settings = Settings(local_work_root=tmp_path)
    assert settings.dirac_placement().sites == ("LCG.IN2P3-CC.fr", "LCG.CNAF.it")
    command = settings.dirac_bridge_command()
    assert command[0] == str(tmp_path / "venv" / "bin" / "python") and command[1].endswith("dirac/bridge.py")
    assert command[command.index("--setup") + 1] == "CTAO-Production"
    assert command[command.index("--config-server") + 1] == "dips://cs.example:9135/Configuration/Server"
    assert settings.dirac_bridge_env()["X509_USER_PROXY"] == str(proxy)
    async with aiohttp.ClientSession() as session:
        backends = built(settings, session)
    assert isinstance(backends["dirac"], DiracBackend)
    assert "dirac" in HOLDS_ON_OUTAGE
    await backends["dirac"].close()  # the bridge never started: nothing to stop


async def test_a_setup_without_a_configuration_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUBMITTER_DIRAC_SETUP", "CTAO-Production")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(ValueError, match="dirac_config_server"):
            built(Settings(local_work_root=tmp_path), session)

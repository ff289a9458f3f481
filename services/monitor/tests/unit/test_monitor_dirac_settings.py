"""The monitor polls a classic DIRAC backend only when a DIRAC setup is configured."""

from pathlib import Path

import aiohttp
import pytest

from esap_backends.base import Observing
from esap_backends.dirac import DiracBackend
from esap_backends.kinds import ObservingResources
from esap_backends.registry import build_observing
from esap_monitor.config import Settings


def build_backends(settings: Settings, session: aiohttp.ClientSession) -> dict[str, Observing]:
    """What the monitor's factory builds when no backends are given."""
    return build_observing(settings, ObservingResources(session, settings.local_work_root))


@pytest.fixture(autouse=True)
def _no_dirac_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("DIRAC_SETUP", "DIRAC_CONFIG_SERVER", "DIRAC_CFG"):
        for prefix in ("ESAP_", "MONITOR_"):
            monkeypatch.delenv(prefix + name, raising=False)


async def test_without_a_setup_there_is_no_dirac_backend(tmp_path: Path) -> None:
    async with aiohttp.ClientSession() as session:
        assert "dirac" not in build_backends(Settings(local_work_root=tmp_path), session)


async def test_a_setup_and_a_local_cfg_make_a_dirac_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MONITOR_DIRAC_SETUP", "CTAO-Production")
    monkeypatch.setenv("ESAP_DIRAC_CFG", str(tmp_path / "dirac.cfg"))
    monkeypatch.setenv("MONITOR_DIRAC_CHUNK_SIZE", "250")
    settings = Settings(local_work_root=tmp_path)
    assert settings.dirac_chunk_size == 250
    assert settings.dirac_bridge_command()[-2:] == ["--cfg", str(tmp_path / "dirac.cfg")]
    async with aiohttp.ClientSession() as session:
        backends = build_backends(settings, session)
    assert isinstance(backends["dirac"], DiracBackend)
    await backends["dirac"].close()

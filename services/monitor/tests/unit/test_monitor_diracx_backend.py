"""The monitor polls DiracX when its settings name one, and fetches output sandboxes under the local work root."""

import aiohttp

from esap_backends.base import Observing
from esap_backends.diracx import DiracXBackend
from esap_backends.kinds import ObservingResources
from esap_backends.registry import build_observing
from esap_monitor.config import Settings


def build_backends(settings: Settings, session: aiohttp.ClientSession) -> dict[str, Observing]:
    """What the monitor's factory builds when no backends are given."""
    return build_observing(settings, ObservingResources(session, settings.local_work_root))


async def test_diracx_is_polled_only_when_configured(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("ESAP_DIRACX_URL", raising=False)
    monkeypatch.delenv("MONITOR_DIRACX_URL", raising=False)
    async with aiohttp.ClientSession() as session:
        assert set(build_backends(Settings(local_work_root=tmp_path), session)) == {"local"}
        monkeypatch.setenv("MONITOR_DIRACX_URL", "http://dirac.example:8000")
        monkeypatch.setenv("ESAP_DIRACX_API_KEY", "raw-key")
        backends = build_backends(Settings(local_work_root=tmp_path), session)
    assert isinstance(backends["diracx"], DiracXBackend)

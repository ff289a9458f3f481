"""The monitor's settings: its own prefix wins over the common ESAP_ one; paths end up absolute."""

from pathlib import Path

import pytest

from esap_monitor.config import Settings


def test_own_prefix_wins_and_common_prefix_fills_in(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MONITOR_POLL_INTERVAL_SECONDS", "0.5")
    monkeypatch.setenv("ESAP_POLL_INTERVAL_SECONDS", "9")
    monkeypatch.setenv("ESAP_LOCAL_WORK_ROOT", str(tmp_path / "jobs"))
    monkeypatch.setenv("ESAP_CATALOG_URL", "http://127.0.0.1:9001")
    settings = Settings()
    assert settings.poll_interval_seconds == 0.5
    assert settings.local_work_root == tmp_path / "jobs"
    assert settings.catalog_url == "http://127.0.0.1:9001"
    assert settings.http_port == 8003


def test_defaults_are_under_the_current_directory(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("LOCAL_WORK_ROOT", "WORKFLOWS_DIR"):
        monkeypatch.delenv(f"ESAP_{name}", raising=False)
        monkeypatch.delenv(f"MONITOR_{name}", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings(workflows_dir=Path("flows"))
    assert settings.local_work_root == tmp_path.resolve() / "var" / "jobs"
    assert settings.workflows_dir == tmp_path.resolve() / "flows"
    assert (settings.poll_chunk_size, settings.resync_seconds) == (5000, 30.0)

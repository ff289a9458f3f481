"""The backend registry: every declared kind builds on both sides, the monitor gets observing sides only (no local
launcher), and the traits the services read are the declared ones."""

from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from pydantic import SecretStr

from esap_backends.dirac import DiracBackend
from esap_backends.diracx import DiracXBackend
from esap_backends.kinds import ObservingResources, SubmittingResources
from esap_backends.local import LocalBackend, LocalObserver
from esap_backends.local import backend as local_backend
from esap_backends.registry import (
    HOLDS_ON_OUTAGE,
    KINDS,
    REPORTS_ITSELF,
    BackendSettings,
    build_observing,
    build_submitting,
)
from esap_messages.catalogue import FACILITY_TYPES

SUBMITTING_SIDE = ("submit", "kill", "recover", "close")
OBSERVING_SIDE = ("bulk_status", "changes_since", "fetch_results")


def every_kind(tmp_path: Path) -> BackendSettings:
    """Settings that configure every declared kind (none of them is called)."""
    return BackendSettings(
        diracx_url="http://dirac.example:8000", diracx_api_key=SecretStr("raw-key"),
        dirac_setup="CTAO-Production", dirac_cfg=tmp_path / "dirac.cfg", dirac_venv=tmp_path / "venv",
    )


def resolved(path: Path) -> Path:
    return path.resolve()


@pytest.fixture
def launchers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The work roots of every local launcher made while the test runs."""
    made: list[str] = []
    real = local_backend.Launcher

    def recording(work_root: str, base_env: dict[str, str]) -> object:
        made.append(work_root)
        return real(work_root, base_env)

    monkeypatch.setattr(local_backend, "Launcher", recording)
    yield made


def test_kinds_are_declared_once_each_with_their_settings_mixed_in() -> None:
    names = [kind.name for kind in KINDS]
    assert names == ["local", "diracx", "dirac"]
    for kind in KINDS:
        assert issubclass(BackendSettings, kind.settings), f"{kind.name}'s settings are not in BackendSettings"


def test_the_traits_are_the_declared_ones() -> None:
    assert {"diracx", "dirac"} == HOLDS_ON_OUTAGE
    assert {"local"} == REPORTS_ITSELF


async def test_every_declared_kind_builds_both_sides(tmp_path: Path, launchers: list[str]) -> None:
    settings = every_kind(tmp_path)
    async with aiohttp.ClientSession() as session:
        submitting = build_submitting(settings, SubmittingResources(
            session=session, work_root=tmp_path / "jobs", workflows_dir=tmp_path, gateway_url="http://gw.example"))
        observing = build_observing(settings, ObservingResources(session, tmp_path / "jobs"))
        try:
            assert list(submitting) == list(observing) == [kind.name for kind in KINDS]
            for name, backend in submitting.items():
                assert backend.name == name
                assert all(callable(getattr(backend, m, None)) for m in SUBMITTING_SIDE + OBSERVING_SIDE), name
            for name, observer in observing.items():
                assert observer.name == name
                assert all(callable(getattr(observer, m, None)) for m in OBSERVING_SIDE), name
            assert isinstance(submitting["local"], LocalBackend)
            assert isinstance(submitting["diracx"], DiracXBackend)
            assert isinstance(submitting["dirac"], DiracBackend)
            assert launchers == [str(resolved(tmp_path / "jobs"))]  # the submitter's local executor has one
        finally:
            for backend in submitting.values():
                await backend.close()
            for observer in observing.values():
                if isinstance(observer, DiracBackend | DiracXBackend):
                    await observer.close()


async def test_the_monitor_builds_observing_sides_only_and_no_launcher(tmp_path: Path, launchers: list[str]) -> None:
    async with aiohttp.ClientSession() as session:
        observing = build_observing(BackendSettings(), ObservingResources(session, tmp_path))
    assert list(observing) == ["local"]  # nothing remote configured
    local = observing["local"]
    assert isinstance(local, LocalObserver) and not isinstance(local, LocalBackend)
    assert not any(hasattr(local, m) for m in SUBMITTING_SIDE)
    assert local.work_root == resolved(tmp_path)
    assert launchers == []


async def test_the_local_observer_reads_what_the_local_backend_reads(tmp_path: Path) -> None:
    (tmp_path / "not-a-job").mkdir()
    observer = LocalObserver.at(tmp_path)
    assert await observer.bulk_status(["not-a-job", "00000000-0000-0000-0000-000000000000"]) == {}
    assert await observer.fetch_results("00000000-0000-0000-0000-000000000000") == ()


def test_every_facility_type_is_a_declared_backend_kind() -> None:
    """The catalog and the gateway know facility types from the contracts; each names a kind that runs it."""
    assert set(FACILITY_TYPES) == {kind.name for kind in KINDS}

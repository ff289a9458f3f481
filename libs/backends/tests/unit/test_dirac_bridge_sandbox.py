"""The bridge's output_sandbox operation over a stand-in for DIRAC's Dirac API (the real one needs a server): the
archives DIRAC leaves in temporary directories are moved into the asked directory, a job without a sandbox (or
without any parameters) has none, a sandbox DIRAC moved to grid storage is read from its LFN, and anything else
DIRAC says is an error."""

import sys
import types
from pathlib import Path
from typing import Any

import pytest

from esap_backends.dirac import bridge

NO_SANDBOX = ("No Output sandbox found for job 5. Possible causes are: the job does not exist, no sandbox was "
              "registered or you do not have permission to access it.")


class FakeDirac:
    """Answers as DIRAC 9.1's Dirac() does, from what the test sets; keeps the calls."""

    sandbox: dict[str, Any] = {}
    parameters: dict[str, Any] = {}
    calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    temp: Path = Path()

    def getOutputSandbox(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("getOutputSandbox", args, kwargs))
        return self.sandbox

    def getJobParameters(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        self.calls.append(("getJobParameters", args, kwargs))
        return self.parameters

    def getFile(self, lfn: str, destDir: str = "") -> dict[str, Any]:
        self.calls.append(("getFile", (lfn,), {"destDir": destDir}))
        local = Path(destDir) / Path(lfn).name
        local.write_bytes(b"archive")
        return {"OK": True, "Value": {"Successful": {lfn: str(local)}, "Failed": {}}}


@pytest.fixture
def dirac(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> type[FakeDirac]:
    module = types.ModuleType("DIRAC.Interfaces.API.Dirac")
    module.Dirac = FakeDirac  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "DIRAC.Interfaces.API.Dirac", module)
    FakeDirac.calls, FakeDirac.temp = [], tmp_path / "TMSB.abc"
    FakeDirac.parameters = {"OK": True, "Value": {}}
    return FakeDirac


def test_archives_are_moved_into_the_directory_and_dirac_does_not_unpack_them(dirac: type[FakeDirac],
                                                                              tmp_path: Path) -> None:
    dirac.temp.mkdir()
    (dirac.temp / "Job.tar.bz2").write_bytes(b"archive")
    dirac.sandbox = {"OK": True, "Value": [str(dirac.temp / "Job.tar.bz2")]}
    target = tmp_path / "incoming" / "5"
    answer = bridge.output_sandbox({"job_id": "5", "directory": str(target)})
    assert answer == {"archives": ["sandbox-0-Job.tar.bz2"]}
    assert (target / "sandbox-0-Job.tar.bz2").read_bytes() == b"archive"
    assert not dirac.temp.exists()  # DIRAC's temporary directory does not pile up
    [(name, args, kwargs)] = dirac.calls
    assert (name, args) == ("getOutputSandbox", (5,))
    assert kwargs == {"outputDir": str(target), "noJobDir": True, "oversized": False, "unpack": False}


def test_a_job_without_a_sandbox_or_parameters_has_no_archives(dirac: type[FakeDirac], tmp_path: Path) -> None:
    dirac.sandbox = {"OK": False, "Message": NO_SANDBOX}
    assert bridge.output_sandbox({"job_id": 5, "directory": str(tmp_path / "a")}) == {"archives": []}
    dirac.parameters = {"OK": False, "Message": "Failed to get job parameters for 5"}
    assert bridge.output_sandbox({"job_id": 5, "directory": str(tmp_path / "b")}) == {"archives": []}


def test_an_oversized_sandbox_is_read_from_grid_storage(dirac: type[FakeDirac], tmp_path: Path) -> None:
    dirac.sandbox = {"OK": False, "Message": NO_SANDBOX}
    dirac.parameters = {"OK": True, "Value": {"OutputSandboxLFN": "/esap/user/e/esap/5/Sandbox.tar.bz2"}}
    target = tmp_path / "incoming" / "5"
    assert bridge.output_sandbox({"job_id": 5, "directory": str(target)}) == {"archives": ["Sandbox.tar.bz2"]}
    assert (target / "Sandbox.tar.bz2").exists()
    assert dirac.calls[-1] == ("getFile", ("/esap/user/e/esap/5/Sandbox.tar.bz2",), {"destDir": str(target)})


def test_what_else_dirac_says_is_an_error(dirac: type[FakeDirac], tmp_path: Path) -> None:
    dirac.sandbox = {"OK": False, "Message": "URL for service WorkloadManagement/SandboxStore not found"}
    with pytest.raises(bridge.BridgeError, match="SandboxStore") as raised:
        bridge.output_sandbox({"job_id": 5, "directory": str(tmp_path / "c")})
    assert raised.value.kind == "dirac"

"""DiracBackend's output retrieval, changes since a time and execution times, over a fake bridge: archives the
bridge downloads are unpacked once by the shared rules (plain files named like results only), a job with no
sandbox has no results, a transient failure is asked again, and only the changed jobs asked about are read."""

import asyncio
import base64
import io
import tarfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from esap_backends import BackendError, PermanentBackendError
from esap_backends.dirac import DiracBackend
from esap_backends.dirac.backend import INCOMING
from esap_backends.dirac.bridge import status_row
from esap_backends.dirac.testing import FakeBridge
from esap_backends.grid import FacilityPlacement
from esap_backends.grid.payload import STDERR, STDOUT
from esap_backends.result_files import STDERR_FILE, STDOUT_FILE
from esap_messages import DiracStatus

REFUSED = {"error": {"message": "Connection refused by the sandbox store", "errno": 111, "kind": "dirac"}}


def archive(files: dict[str, bytes], links: dict[str, str] | None = None) -> str:
    """A bz2 tar (as DIRAC's sandbox store keeps them), base64 for the fake bridge's script."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w:bz2") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    return base64.b64encode(data.getvalue()).decode()


def downloaded(name: str, content: str) -> dict[str, object]:
    return {"files": {name: content}, "value": {"archives": [name]}}


def backend(bridge: FakeBridge, results_root: Path | None) -> DiracBackend:
    return DiracBackend(bridge.client(), FacilityPlacement(job_group="esap"), workflows_dir=None, gateway_url=None,
                        results_root=results_root)


async def test_the_output_sandbox_is_fetched_once_and_listed_as_results(tmp_path: Path) -> None:
    sandbox = archive({STDOUT_FILE: b"hello\n", "helloworld.json": b'{"a": 1}', "payload.log": b"ran\n",
                       "../escape.txt": b"x", "sub/dir.txt": b"y"}, links={"link.txt": "/etc/passwd"})
    bridge = FakeBridge(tmp_path, {"output_sandbox": [downloaded("sandbox-0-Job.tar.bz2", sandbox)]})
    root = tmp_path / "results"
    dirac = backend(bridge, root)
    try:
        results = await dirac.fetch_results("4242")
        again = await dirac.fetch_results("4242")
    finally:
        await dirac.close()
    by_id = {r.name: r for r in results}
    assert set(by_id) == {"stdout", "helloworld.json", "payload.log"}
    assert (by_id["helloworld.json"].mime_type, by_id["helloworld.json"].size) == ("application/json", 8)
    assert by_id["stdout"].location == (root / "4242" / STDOUT_FILE).as_uri()
    assert (root / "4242" / STDOUT_FILE).read_bytes() == b"hello\n"
    assert again == results
    [request] = bridge.requests("output_sandbox")
    assert request["args"] == {"job_id": 4242, "directory": str(root / INCOMING / "4242")}
    assert not (root / INCOMING / "4242").exists()  # the downloaded archive is gone once unpacked


async def test_two_fetches_of_one_job_at_once_share_one_download(tmp_path: Path) -> None:
    sandbox = archive({STDOUT_FILE: b"once\n"})
    bridge = FakeBridge(tmp_path, {"output_sandbox": [{"sleep": 0.3, **downloaded("sandbox-0-a.tar.bz2", sandbox)}]})
    dirac = backend(bridge, tmp_path / "results")
    try:
        first, second = await asyncio.gather(dirac.fetch_results("11"), dirac.fetch_results("11"))
    finally:
        await dirac.close()
    assert first == second and [r.name for r in first] == ["stdout"]
    assert len(bridge.requests("output_sandbox")) == 1


async def test_a_job_without_an_output_sandbox_has_no_results_and_is_not_asked_again(tmp_path: Path) -> None:
    bridge = FakeBridge(tmp_path, {"output_sandbox": [{"value": {"archives": []}}]})
    dirac = backend(bridge, tmp_path / "results")
    try:
        assert await dirac.fetch_results("7") == ()
        assert await dirac.fetch_results("7") == ()
    finally:
        await dirac.close()
    assert len(bridge.requests("output_sandbox")) == 1


async def test_a_failed_download_is_transient_and_the_next_call_fetches(tmp_path: Path) -> None:
    good = archive({STDERR_FILE: b"oops\n"})
    bridge = FakeBridge(tmp_path, {"output_sandbox": [REFUSED, downloaded("sandbox-0-a.tar.bz2", good)]})
    dirac = backend(bridge, tmp_path / "results")
    try:
        with pytest.raises(BackendError) as raised:
            await dirac.fetch_results("8")
        assert not isinstance(raised.value, PermanentBackendError)
        assert [r.name for r in await dirac.fetch_results("8")] == ["stderr"]
    finally:
        await dirac.close()
    assert len(bridge.requests("output_sandbox")) == 2


async def test_an_unreadable_sandbox_is_a_permanent_error(tmp_path: Path) -> None:
    broken = base64.b64encode(b"not an archive at all").decode()
    bridge = FakeBridge(tmp_path, {"output_sandbox": [downloaded("sandbox-0-x.tar.bz2", broken)]})
    dirac = backend(bridge, tmp_path / "results")
    try:
        with pytest.raises(PermanentBackendError, match="not a readable archive"):
            await dirac.fetch_results("9")
        with pytest.raises(PermanentBackendError, match="not a DIRAC job id"):
            await dirac.fetch_results("../9")
    finally:
        await dirac.close()


async def test_without_a_results_root_nothing_is_fetched(tmp_path: Path) -> None:
    bridge = FakeBridge(tmp_path, {})
    dirac = backend(bridge, None)
    try:
        assert await dirac.fetch_results("10") == ()
    finally:
        await dirac.close()
    assert bridge.requests() == []


async def test_changes_since_reads_only_the_changed_jobs_asked_about(tmp_path: Path) -> None:
    rows = {"5": {"Status": "Running", "StartExecTime": "2026-01-02T02:00:00", "EndExecTime": None},
            "6": {"Status": "Done", "StartExecTime": "2026-01-02 02:00:00", "EndExecTime": "2026-01-02 02:10:00"}}
    bridge = FakeBridge(tmp_path, {"changed_since": [{"value": [5, 6, 99]}, {"value": [99]}],
                                   "bulk_status": [{"value": rows}]})
    dirac = backend(bridge, None)
    since = datetime(2026, 1, 2, 4, 4, 5, 600000, tzinfo=timezone(timedelta(hours=1)))
    try:
        changed = await dirac.changes_since(since, ["5", "6", "7"])
        assert await dirac.changes_since(since, ["5", "6", "7"]) == {}
        assert await dirac.changes_since(since, ["not-an-id"]) == {}
    finally:
        await dirac.close()
    assert [r["args"] for r in bridge.requests("changed_since")] == [
        {"since": "2026-01-02 03:04:05", "job_group": "esap"}] * 2
    assert [sorted(r["args"]["job_ids"]) for r in bridge.requests("bulk_status")] == [[5, 6]]
    assert changed["5"].status is DiracStatus.RUNNING and changed["5"].ended_at is None
    assert changed["5"].started_at == datetime(2026, 1, 2, 2, 0, tzinfo=UTC)
    assert changed["6"].ended_at == datetime(2026, 1, 2, 2, 10, tzinfo=UTC)


def test_the_bridge_sends_dirac_times_as_iso_text_and_unset_ones_as_none() -> None:
    row = status_row({"Status": "Done", "MinorStatus": "Execution Complete", "Site": None,
                      "StartExecTime": datetime(2026, 1, 2, 3, 4, 5), "EndExecTime": "None",
                      "LastUpdateTime": "2026-01-02 03:05:00", "Owner": "someone"})
    assert row == {"Status": "Done", "MinorStatus": "Execution Complete", "ApplicationStatus": "", "Site": "",
                   "StartExecTime": "2026-01-02T03:04:05", "EndExecTime": None,
                   "LastUpdateTime": "2026-01-02 03:05:00"}


def test_both_dirac_backends_name_stdout_and_stderr_alike() -> None:
    assert (STDOUT, STDERR) == (STDOUT_FILE, STDERR_FILE)

"""The bridge client against a fake bridge process: answers matched by id, time limits that kill and restart
the bridge, a dead bridge as BackendError, DIRAC's errors mapped, and an event loop that never waits on DIRAC."""

import asyncio
import os
from pathlib import Path

import pytest

from esap_backends import BackendError, PermanentBackendError
from esap_backends.dirac import DiracCallError, DiracRefusedError, to_backend_error
from esap_backends.dirac.testing import FakeBridge


async def test_answers_arriving_out_of_order_reach_their_own_callers(tmp_path: Path) -> None:
    bridge = FakeBridge(tmp_path, {"slow": [{"sleep": 0.6, "echo": True}], "fast": [{"echo": True}]})
    client = bridge.client()
    try:
        slow = asyncio.create_task(client.call("slow", {"n": 1}))
        await asyncio.sleep(0.1)
        fast = await client.call("fast", {"n": 2})
        assert not slow.done()
        assert fast == {"n": 2}
        assert await slow == {"n": 1}
        assert client.starts == 1
    finally:
        await client.close()


async def test_a_call_over_its_time_limit_kills_the_bridge_and_the_next_call_starts_a_new_one(
        tmp_path: Path) -> None:
    bridge = FakeBridge(tmp_path, {"submit": [{"hang": True}], "bulk_status": [{"value": {}}]})
    client = bridge.client(timeout_seconds=0.5)
    try:
        assert await client.call("bulk_status", {}) == {}
        first_pid = client.pid
        assert first_pid is not None
        with pytest.raises(BackendError, match=r"took over 0\.5 s") as raised:
            await client.call("submit", {})
        assert not isinstance(raised.value, PermanentBackendError)
        assert client.pid is None
        with pytest.raises(ProcessLookupError):
            os.kill(first_pid, 0)  # really gone, not left hanging
        assert await client.call("bulk_status", {}) == {}
        assert client.starts == 2 and client.pid not in (None, first_pid)
    finally:
        await client.close()


async def test_other_calls_under_way_fail_when_the_bridge_is_killed(tmp_path: Path) -> None:
    bridge = FakeBridge(tmp_path, {"submit": [{"hang": True}], "bulk_status": [{"sleep": 30, "value": {}}]})
    client = bridge.client(timeout_seconds=0.5)
    try:
        waiting = asyncio.create_task(client.call("bulk_status", {}, limit_seconds=20))
        with pytest.raises(BackendError):
            await client.call("submit", {})
        with pytest.raises(BackendError, match="killed"):
            await asyncio.wait_for(waiting, 5)
    finally:
        await client.close()


async def test_a_bridge_that_dies_gives_backend_error_and_is_started_again(tmp_path: Path) -> None:
    bridge = FakeBridge(tmp_path, {"kill": [{"die": 3}, {"value": [7]}]})
    client = bridge.client()
    try:
        with pytest.raises(BackendError, match=r"exited with code 3.*fake bridge dying") as raised:
            await client.call("kill", {"job_id": 7})
        assert not isinstance(raised.value, PermanentBackendError)
        assert await client.call("kill", {"job_id": 7}) == [7]
        assert client.starts == 2
    finally:
        await client.close()


async def test_a_bridge_that_cannot_start_gives_backend_error(tmp_path: Path) -> None:
    bridge = FakeBridge(tmp_path, {"_start": {"not_ready": "DIRACInitError: no configuration"}})
    client = bridge.client()
    with pytest.raises(BackendError, match="DIRACInitError"):
        await client.call("bulk_status", {})
    client = FakeBridge(tmp_path, {"_start": {"sleep": 5}}).client(start_timeout_seconds=0.3)
    with pytest.raises(BackendError, match="did not start"):
        await client.call("bulk_status", {})
    assert client.pid is None


async def test_a_missing_interpreter_gives_backend_error(tmp_path: Path) -> None:
    from esap_backends.dirac import DiracBridgeClient

    client = DiracBridgeClient([str(tmp_path / "no-venv" / "bin" / "python"), "bridge.py"])
    with pytest.raises(BackendError, match="cannot start"):
        await client.call("bulk_status", {})


async def test_the_event_loop_keeps_turning_while_dirac_hangs(tmp_path: Path) -> None:
    bridge = FakeBridge(tmp_path, {"submit": [{"hang": True}]})
    client = bridge.client(timeout_seconds=1.0)
    loop = asyncio.get_running_loop()
    lags: list[float] = []

    async def ticker() -> None:
        while True:
            before = loop.time()
            await asyncio.sleep(0.02)
            lags.append(loop.time() - before - 0.02)

    await client.call("warm-up", {})  # the process start is not what is measured here
    ticking = asyncio.create_task(ticker())
    try:
        with pytest.raises(BackendError):
            await client.call("submit", {})
    finally:
        ticking.cancel()
        await client.close()
    assert len(lags) >= 20, lags
    assert max(lags) < 0.25, max(lags)


async def test_dirac_errors_are_answered_as_the_right_backend_errors(tmp_path: Path) -> None:
    refused = {"message": "Job description refused: bad JDL", "errno": 1501, "kind": "dirac"}
    bridge = FakeBridge(tmp_path, {"submit": [{"error": refused}]})
    client = bridge.client()
    try:
        with pytest.raises(DiracRefusedError, match="bad JDL") as raised:
            await client.call("submit", {})
        assert raised.value.error["errno"] == 1501
    finally:
        await client.close()


@pytest.mark.parametrize(("operation", "error", "permanent"), [
    ("submit", {"message": "Cannot connect to dips://wms.example:9132", "kind": "dirac"}, False),
    ("submit", {"message": "Failed to contact the server", "errno": 111, "kind": "dirac"}, False),
    ("submit", {"message": "No proxy found in local environment", "errno": 1101, "kind": "dirac"}, False),
    ("submit", {"message": "Request timed out", "kind": "dirac"}, False),
    ("kill", {"message": "URL for service WorkloadManagement/JobMonitoring not found", "errno": 0}, False),
    ("submit", {"message": "Specified site X is not in list of defined sites", "kind": "refused"}, True),
    ("submit", {"message": "Invalid JDL", "errno": 1501, "kind": "dirac"}, True),
    ("kill", {"message": "Not authorized to kill job 12", "kind": "dirac"}, True),
    ("bulk_status", {"message": "Something odd", "kind": "dirac"}, False),
    ("find_by_name", {"message": "Something odd", "kind": "dirac"}, False),
    ("submit", {"message": "KeyError: 'Value'", "kind": "exception"}, False),
    ("submit", {"message": "unknown operation 'x'", "kind": "usage"}, True),
])
def test_errors_are_classified_transient_or_permanent(operation: str, error: dict[str, object],
                                                       permanent: bool) -> None:
    mapped = to_backend_error(operation, error)
    assert isinstance(mapped, DiracRefusedError if permanent else DiracCallError)
    assert isinstance(mapped, PermanentBackendError) is permanent
    assert str(error["message"]) in str(mapped)

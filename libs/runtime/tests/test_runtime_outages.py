"""An outage is logged once when it starts and once when it ends, however many requests it refused."""

import asyncio

from prometheus_client import CollectorRegistry, Counter
from structlog.testing import capture_logs

from esap_runtime import outages
from esap_runtime.outages import Outage


async def recovered(outage: Outage, within: float = 5.0) -> None:
    for _ in range(int(within / 0.01)):
        if not outage.down:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the outage did not end")


async def test_an_outage_is_logged_once_at_its_start_and_once_at_its_end_with_what_it_refused() -> None:
    registry = CollectorRegistry()
    refused = Counter("test_requests_refused_total", "", ["dependency"], registry=registry)
    back = asyncio.Event()

    async def probe() -> bool:
        return back.is_set()

    outage = Outage("database", probe, refused=refused, probe_seconds=0.01)
    with capture_logs() as logs:
        for _ in range(50):
            outage.failed(ConnectionRefusedError("refused"))
        await asyncio.sleep(0.05)
        assert outage.down
        back.set()
        await recovered(outage)

    assert [(e["event"], e["dependency"]) for e in logs] == [
        ("A dependency is unavailable; requests that need it are refused with 503 until it returns.", "database"),
        ("A dependency is available again.", "database"),
    ]
    assert logs[1]["refused"] == 50
    assert registry.get_sample_value("test_requests_refused_total", {"dependency": "database"}) == 50
    await outage.close()


async def test_a_probe_that_fails_keeps_the_outage_and_a_new_one_is_logged_again(monkeypatch) -> None:
    answers = iter([RuntimeError("still down"), False, True])

    async def probe() -> bool:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    outage = Outage("broker", probe, probe_seconds=0.01)
    with capture_logs() as logs:
        outage.failed(TimeoutError())
        await recovered(outage)
        outage.failed(TimeoutError())
        assert outage.down

    assert [e["event"].split(";")[0] for e in logs] == [
        "A dependency is unavailable", "A dependency is available again.", "A dependency is unavailable"]
    await outage.close()


async def test_without_a_probe_an_outage_ends_after_a_quiet_time(monkeypatch) -> None:
    monkeypatch.setattr(outages, "QUIET_SECONDS", 0.05)
    outage = Outage("identity provider", None, probe_seconds=0.01)

    outage.failed(TimeoutError())
    await asyncio.sleep(0.03)
    outage.failed(TimeoutError())
    assert outage.down
    await recovered(outage)
    await outage.close()

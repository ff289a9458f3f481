"""The group-commit Coalescer: a lone request leaves at once, requests that queue meanwhile leave together, each
caller gets its own outcome, and with one batch in flight batches keep their order."""

import asyncio

import pytest

from esap_runtime.batching import Coalescer, LoadGauge


class Sender:
    def __init__(self) -> None:
        self.batches: list[list[int]] = []
        self.release = asyncio.Event()
        self.release.set()

    async def send(self, items: list[int]) -> list[int | BaseException]:
        self.batches.append(items)
        await self.release.wait()
        return [ValueError(f"odd {i}") if i % 2 else i * 10 for i in items]


async def test_a_lone_request_is_sent_at_once_and_answered() -> None:
    sender = Sender()
    coalescer: Coalescer[int, int] = Coalescer(sender.send)
    assert await coalescer.submit(4) == 40
    assert sender.batches == [[4]]


async def test_requests_queued_behind_a_batch_in_flight_leave_together() -> None:
    sender = Sender()
    sender.release.clear()
    coalescer: Coalescer[int, int] = Coalescer(sender.send, max_in_flight=1)
    first = asyncio.create_task(coalescer.submit(0))
    await asyncio.sleep(0.01)
    rest = [asyncio.create_task(coalescer.submit(i)) for i in (2, 4, 6, 8)]
    await asyncio.sleep(0.01)
    assert sender.batches == [[0]], "nothing may leave while the only batch slot is taken"
    assert coalescer.waiting == 4
    sender.release.set()
    assert await first == 0
    assert await asyncio.gather(*rest) == [20, 40, 60, 80]
    assert sender.batches == [[0], [2, 4, 6, 8]]


async def test_a_request_whose_caller_gave_up_before_it_left_is_never_sent() -> None:
    sender = Sender()
    sender.release.clear()
    coalescer: Coalescer[int, int] = Coalescer(sender.send, max_in_flight=1)
    first = asyncio.create_task(coalescer.submit(0))
    await asyncio.sleep(0.01)
    with pytest.raises(TimeoutError):  # a caller that answered "not sent" (say, 503) after its timeout
        await asyncio.wait_for(coalescer.submit(2), 0.01)
    kept = asyncio.create_task(coalescer.submit(4))
    await asyncio.sleep(0.01)
    sender.release.set()

    assert await first == 0 and await kept == 40
    assert sender.batches == [[0], [4]]


async def test_a_batch_lingers_while_requests_come_fast_and_never_at_a_quiet_time() -> None:
    sender = Sender()
    coalescer: Coalescer[int, int] = Coalescer(sender.send, max_in_flight=1, linger=0.2, linger_above=50)
    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await coalescer.submit(2) == 20  # the first request: at once
    assert loop.time() - started < 0.15
    burst = loop.time()
    assert await asyncio.gather(*(coalescer.submit(i) for i in (4, 6, 8, 10))) == [40, 60, 80, 100]
    assert loop.time() - burst >= 0.2, "requests coming fast: the batch waits for more"
    assert sender.batches == [[2], [4, 6, 8, 10]]
    await asyncio.sleep(1.0)
    quiet = loop.time()
    assert await coalescer.submit(12) == 120  # after a quiet second: at once
    assert loop.time() - quiet < 0.15


def test_the_load_gauge_follows_the_rate_of_arrivals() -> None:
    gauge = LoadGauge(rate=100)
    assert not gauge.busy
    for i in range(20):
        gauge.arrived(i * 0.001)  # 1000/s
    assert gauge.busy
    gauge.arrived(5.0)  # then a pause of five seconds
    assert not gauge.busy
    gauge.arrived(5.001, count=50)  # a body of 50 messages at once
    assert gauge.busy


async def test_each_caller_gets_its_own_outcome() -> None:
    sender = Sender()
    coalescer: Coalescer[int, int] = Coalescer(sender.send)
    results = await asyncio.gather(*(coalescer.submit(i) for i in range(4)), return_exceptions=True)
    assert results[0] == 0 and results[2] == 20
    assert isinstance(results[1], ValueError) and str(results[1]) == "odd 1"
    assert isinstance(results[3], ValueError)
    assert sender.batches == [[0, 1, 2, 3]], "requests of one turn of the loop go in one batch"


async def test_a_failing_sender_fails_every_caller_of_its_batch_only() -> None:
    calls = 0

    async def send(items: list[int]) -> list[int]:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionError("down")
        return items

    coalescer: Coalescer[int, int] = Coalescer(send)
    failed = await asyncio.gather(coalescer.submit(1), coalescer.submit(2), return_exceptions=True)
    assert all(isinstance(f, ConnectionError) for f in failed)
    assert await coalescer.submit(3) == 3


async def test_batches_are_capped_and_keep_their_order_with_one_in_flight() -> None:
    sender = Sender()
    coalescer: Coalescer[int, int] = Coalescer(sender.send, max_in_flight=1, max_batch=3)
    await asyncio.gather(*(coalescer.submit(i * 2) for i in range(7)))
    assert sender.batches == [[0, 2, 4], [6, 8, 10], [12]]


async def test_drain_waits_for_everything_submitted() -> None:
    sender = Sender()
    sender.release.clear()
    coalescer: Coalescer[int, int] = Coalescer(sender.send, max_in_flight=1)
    tasks = [asyncio.create_task(coalescer.submit(i * 2)) for i in range(3)]
    await asyncio.sleep(0)
    drained = asyncio.create_task(coalescer.drain())
    await asyncio.sleep(0.01)
    assert not drained.done()
    sender.release.set()
    await asyncio.wait_for(drained, 1)
    assert all(t.done() for t in tasks)


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Coalescer(Sender().send, max_in_flight=0)

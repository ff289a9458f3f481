"""Group commit: requests that arrive while earlier ones are being served go out together, in one batch.

A request is sent at once while fewer than ``max_in_flight`` batches are out, so a lone request waits for
nothing; under load, everything that queued meanwhile leaves in the next batch. The bus's publisher, the gateway's
callback verifications and the local executor's callbacks all send this way. With ``max_in_flight=1`` batches
leave one after the other, in the order their requests arrived.

With ``linger``, a batch waits that long before it leaves while requests arrive faster than ``linger_above`` per
second (``LoadGauge``): fewer, larger batches under load, and requests at a quiet time, or at a moderate rate,
leave at once.

Each caller gets its own answer: the batch sender returns one outcome per request, in order, and an outcome that
is an exception is raised to that caller only; an exception raised by the sender reaches every caller of the
batch. A request whose caller stopped waiting before its batch left is never sent. Depends on the standard library only.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")

SendBatch = Callable[[list[T]], Awaitable[Sequence[R | BaseException]]]


class LoadGauge:
    """Whether arrivals come faster than ``rate`` per second: a moving average of the time between them. (The size
    of the last batch would not do: a chance pair at a low rate would make every later batch wait, and requests
    that come one after the other, fast, would never start it.)"""

    def __init__(self, rate: float) -> None:
        self._threshold = 1.0 / rate if rate > 0 else float("inf")
        self._gap = float("inf")
        self._last: float | None = None

    def arrived(self, now: float, count: int = 1) -> None:
        if self._last is not None and count > 0:
            gap = (now - self._last) / count  # as if the ``count`` arrivals had come evenly spread
            kept = 0.8 ** min(count, 64)  # each arrival weighs 0.2
            self._gap = gap if self._gap == float("inf") else kept * self._gap + (1 - kept) * gap
        self._last = now

    @property
    def busy(self) -> bool:
        return self._gap < self._threshold


class Coalescer(Generic[T, R]):
    def __init__(self, send: SendBatch[T, R], *, max_in_flight: int = 2, max_batch: int = 500,
                 linger: float = 0.0, linger_above: float = 300.0) -> None:
        if max_in_flight < 1 or max_batch < 1 or linger < 0:
            raise ValueError("max_in_flight and max_batch must be at least 1, linger at least 0")
        self._send = send
        self._max_in_flight = max_in_flight
        self._max_batch = max_batch
        self._linger = linger
        self._load = LoadGauge(linger_above)
        self._waiting: list[tuple[T, asyncio.Future[R]]] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._scheduled = False

    @property
    def waiting(self) -> int:
        """Requests not yet sent."""
        return len(self._waiting)

    async def submit(self, item: T) -> R:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        if self._linger:
            self._load.arrived(loop.time())
        self._waiting.append((item, future))
        self._schedule()
        return await future

    async def drain(self) -> None:
        """Wait until every request submitted so far has been answered."""
        while self._waiting or self._in_flight:
            if self._in_flight:
                await asyncio.wait(set(self._in_flight))
            else:
                await asyncio.sleep(0)

    def _schedule(self) -> None:
        # call_soon, not at once: requests made in this same turn of the loop join the batch.
        if self._waiting and not self._scheduled and len(self._in_flight) < self._max_in_flight:
            self._scheduled = True
            if self._linger and self._load.busy:
                asyncio.get_running_loop().call_later(self._linger, self._dispatch)
            else:
                asyncio.get_running_loop().call_soon(self._dispatch)

    def _dispatch(self) -> None:
        self._scheduled = False
        # A request whose caller gave up before it left (a timeout, a cancelled request) is not sent: its caller has
        # answered as if it had not been, and sending it now would make that answer wrong.
        self._waiting = [(item, future) for item, future in self._waiting if not future.done()]
        while self._waiting and len(self._in_flight) < self._max_in_flight:
            batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch :]
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._schedule()

    async def _run(self, batch: list[tuple[T, asyncio.Future[R]]]) -> None:
        try:
            outcomes = await self._send([item for item, _ in batch])
            if len(outcomes) != len(batch):
                raise ValueError(f"{len(outcomes)} outcomes for a batch of {len(batch)}")
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), outcome in zip(batch, outcomes, strict=True):
            if future.done():  # its caller gave up waiting
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

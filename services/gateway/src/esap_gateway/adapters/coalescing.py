"""Coalescing of callback verifications into batch requests to the catalog.

A verification is sent at once while fewer than ``max_in_flight`` batch requests are out; otherwise it waits and
goes with the others that arrived meanwhile in the next one. So a lone callback costs no extra latency, and
under load the catalog answers one request (one query) per batch instead of one per callback.
Must not depend on FastAPI or on the services; it knows no UWS rule.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence

from esap_messages.api import CallbackVerdict, CallbackVerification

SendBatch = Callable[[Sequence[CallbackVerification]], Awaitable[Sequence[CallbackVerdict]]]


class CoalescingVerifier:
    def __init__(self, send: SendBatch, *, max_in_flight: int = 2, max_batch: int = 500) -> None:
        self._send = send
        self._max_in_flight = max_in_flight
        self._max_batch = max_batch
        self._waiting: list[tuple[CallbackVerification, asyncio.Future[CallbackVerdict]]] = []
        self._in_flight: set[asyncio.Task[None]] = set()

    async def verify(self, request: CallbackVerification) -> CallbackVerdict:
        future: asyncio.Future[CallbackVerdict] = asyncio.get_running_loop().create_future()
        self._waiting.append((request, future))
        self._dispatch()
        return await future

    def _dispatch(self) -> None:
        while self._waiting and len(self._in_flight) < self._max_in_flight:
            batch, self._waiting = self._waiting[: self._max_batch], self._waiting[self._max_batch :]
            task = asyncio.create_task(self._run(batch))
            self._in_flight.add(task)
            task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._dispatch()

    async def _run(self, batch: list[tuple[CallbackVerification, asyncio.Future[CallbackVerdict]]]) -> None:
        try:
            verdicts = await self._send([request for request, _ in batch])
            if len(verdicts) != len(batch):
                raise ValueError(f"{len(verdicts)} verdicts for {len(batch)} verifications")
        except BaseException as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc if isinstance(exc, Exception) else asyncio.CancelledError())
            if not isinstance(exc, Exception):
                raise
            return
        for (_, future), verdict in zip(batch, verdicts, strict=True):
            if not future.done():
                future.set_result(verdict)

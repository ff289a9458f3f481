"""Each client command's settlement, out of the catalog right after the batch that settled it committed.

A settlement is a hint for the gateway holding the request that sent the command (its 303 waits for it, so the
redirect's target shows the change): it is published in the background, so the batch's acknowledgement never waits
for it, and not through the outbox, so it costs no row. One lost (the broker away, the catalog killed between the
commit and the publish) makes that request wait for the gateway's bound; the change itself is committed.
Depends on the message contracts, structlog and a publish callable only.
"""

import asyncio
import contextvars
from collections.abc import Awaitable, Callable, Sequence

import structlog

from esap_messages import CommandSettled, Message

log = structlog.get_logger("esap.catalog.settlements")

PublishMany = Callable[[Sequence[Message]], Awaitable[None]]


class SettlementPublisher:
    def __init__(self, publish: PublishMany) -> None:
        self._publish = publish
        self._tasks: set[asyncio.Task[None]] = set()

    def __call__(self, settled: list[CommandSettled]) -> None:
        task = asyncio.get_running_loop().create_task(self._send(settled), context=contextvars.Context())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, settled: list[CommandSettled]) -> None:
        try:
            await self._publish(settled)
        except Exception as exc:
            log.warning("Could not publish command settlements; their requests are answered at the gateway's "
                        "bound.", settlements=len(settled), error=repr(exc))

    async def close(self) -> None:
        """Let the publishes under way finish (the bus is still open)."""
        await asyncio.gather(*self._tasks, return_exceptions=True)

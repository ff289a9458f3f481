"""One dedicated connection that LISTENs for committed job changes (``pg_notify('esap_job_changed', id)``).

If the connection drops, it reconnects with backoff and then reports ``on_reconnect``, because notifications
sent meanwhile are lost: whoever waits must read again. A periodic ping finds connections that died silently.
Depends on asyncpg, storage's outage classification and channel name, and esap_runtime's stopping only.
"""

import asyncio
import contextlib
from collections.abc import Callable
from uuid import UUID

import asyncpg
import structlog

from esap_catalog.storage.errors import is_outage
from esap_catalog.storage.jobs import CHANNEL
from esap_runtime.stopping import cancel_and_wait

log = structlog.get_logger("esap.catalog.listener")

_PING_SECONDS = 15.0


class ChangeListener:
    def __init__(self, url: str, on_change: Callable[[UUID], None], on_reconnect: Callable[[], None]) -> None:
        self._url = url
        self._on_change = on_change
        self._on_reconnect = on_reconnect
        self._conn: asyncpg.Connection | None = None
        self._lost = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def start(self) -> None:
        """Connect (failing if the database does not answer now), then keep the connection alive."""
        await self._connect()
        self._task = asyncio.create_task(self._supervise(), name="catalog:listener")

    async def close(self) -> None:
        if self._task is not None:
            await cancel_and_wait([self._task])
        if self._conn is not None and not self._conn.is_closed():
            try:
                await self._conn.close(timeout=5)
            except Exception:  # TimeoutError or a broken socket: drop it, the stop must go on
                self._conn.terminate()

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self._url)
        conn.add_termination_listener(lambda _conn: self._lost.set())
        await conn.add_listener(CHANNEL, self._notified)
        self._conn = conn
        self._lost.clear()

    def _notified(self, _conn: object, _pid: int, _channel: str, payload: object) -> None:
        try:
            job_id = UUID(str(payload))
        except ValueError:
            log.warning("Ignored a malformed job change notification.", payload=str(payload)[:100])
            return
        self._on_change(job_id)

    async def _supervise(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._lost.wait(), _PING_SECONDS)
            if not self._lost.is_set() and await self._ping():
                continue
            log.warning("The LISTEN connection was lost; reconnecting.")
            await self._reconnect()

    async def _ping(self) -> bool:
        conn = self._conn
        if conn is None or conn.is_closed():
            return False
        try:
            await conn.execute("SELECT 1", timeout=5)
        except Exception as exc:
            if not is_outage(exc):
                raise
            conn.terminate()
            return False
        return True

    async def _reconnect(self) -> None:
        pause = 0.1
        if self._conn is not None:
            self._conn.terminate()
        while True:
            try:
                await self._connect()
            except Exception as exc:  # whatever it is, waiting and trying again is all there is to do
                log.warning("The LISTEN connection could not be restored.", retry_in=pause, error=repr(exc))
                await asyncio.sleep(pause)
                pause = min(pause * 2, 5.0)
                continue
            log.info("The LISTEN connection was restored.")
            self._on_reconnect()
            return

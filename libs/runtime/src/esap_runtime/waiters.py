"""Parking places for requests that wait for something to change (UWS WAIT), woken by notifications.

Keyed by id; a wake-up only says "read again". Whoever feeds the registry (PostgreSQL LISTEN in the catalog,
the bus' phase changes in the gateway) calls ``notify`` and says through ``live`` whether notifications flow.
Knows nothing of jobs or phases.
"""

import asyncio
from collections.abc import Callable, Hashable


class WaiterRegistry:
    """id -> the futures of the requests waiting for it to change."""

    def __init__(self, on_count: Callable[[int], None] = lambda _n: None) -> None:
        self._waiters: dict[Hashable, set[asyncio.Future[None]]] = {}
        self._count = 0
        self._on_count = on_count
        self.live: Callable[[], bool] = lambda: False
        """Whether notifications are being received (set by whoever feeds the registry)."""

    @property
    def count(self) -> int:
        return self._count

    def register(self, key: Hashable) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(key, set()).add(future)
        self._changed(+1)
        return future

    def unregister(self, key: Hashable, future: asyncio.Future[None]) -> None:
        futures = self._waiters.get(key)
        if futures is None or future not in futures:
            return
        futures.discard(future)
        if not futures:
            del self._waiters[key]
        self._changed(-1)

    def notify(self, key: Hashable) -> None:
        for future in self._waiters.get(key, ()):
            if not future.done():
                future.set_result(None)

    def wake_all(self) -> None:
        for key in list(self._waiters):
            self.notify(key)

    def _changed(self, delta: int) -> None:
        self._count += delta
        self._on_count(self._count)

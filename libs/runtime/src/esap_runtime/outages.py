"""A dependency's outages, as the people watching the logs should see them: one line when one starts, one line when
it ends, with how long it lasted and how many requests were refused meanwhile; never a line per request.

Whoever meets the failure calls ``failed``; from then on a probe asks the dependency every ``probe_seconds`` whether
it is back, and the first yes ends the outage. A dependency with no probe is taken to be back once QUIET_SECONDS
passed without a failure. Depends on structlog and prometheus_client only.
"""

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable

import structlog
from prometheus_client import Counter

log = structlog.get_logger("esap.outages")

PROBE_SECONDS = 1.0
PROBE_TIMEOUT_SECONDS = 2.0
QUIET_SECONDS = 10.0

RETRY_AFTER_SECONDS = 5
"""What a refused request's Retry-After says: about the time a dependency restarted by its supervisor takes."""


class Outage:
    """One dependency (the database, the broker, the catalog...) of one process."""

    def __init__(self, name: str, probe: Callable[[], Awaitable[bool]] | None, *, refused: Counter | None = None,
                 probe_seconds: float = PROBE_SECONDS) -> None:
        self.name = name
        self._probe = probe
        self._refused_total = refused
        self._probe_seconds = probe_seconds
        self._since: float | None = None
        self._last_failure = 0.0
        self._refused = 0
        self._watch: asyncio.Task[None] | None = None

    @property
    def down(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException) -> None:
        """A request failed because the dependency is away: counted, and logged if it starts an outage."""
        self._refused += 1
        self._last_failure = time.monotonic()
        if self._refused_total is not None:
            self._refused_total.labels(self.name).inc()
        if self._since is not None:
            return
        self._since = time.monotonic()
        log.warning("A dependency is unavailable; requests that need it are refused with 503 until it returns.",
                    dependency=self.name, error=repr(exc)[:300])
        self._watch = asyncio.get_running_loop().create_task(self._until_back(), name=f"outage:{self.name}")

    async def _until_back(self) -> None:
        while not await self._back():
            pass
        since = self._since if self._since is not None else time.monotonic()
        log.info("A dependency is available again.", dependency=self.name,
                 unavailable_seconds=round(time.monotonic() - since, 1), refused=self._refused)
        self._since = None
        self._refused = 0
        self._watch = None

    async def _back(self) -> bool:
        await asyncio.sleep(self._probe_seconds)
        if self._probe is None:
            return time.monotonic() - self._last_failure >= QUIET_SECONDS
        try:
            return await asyncio.wait_for(self._probe(), PROBE_TIMEOUT_SECONDS)
        except Exception:
            return False

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch

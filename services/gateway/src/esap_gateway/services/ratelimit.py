"""How often one owner may change things: a token bucket per owner for the state-changing requests (create, run,
abort, update, delete), so that one client cannot flood the bus and the catalog on everybody's behalf.

Each owner may make ``per_minute`` such requests a minute on average, and as many at once after a quiet minute;
beyond that a request is refused with the seconds after which one will be taken again (429 with Retry-After,
which pyvo turns into DALRateLimitError). The buckets are this process's: with several gateways, each allows the
rate. Anonymous callers share one bucket. Reads, WAITs and callbacks are not counted.
Must not depend on anything but the standard library and the services' errors.
"""

import math
import time
from collections import OrderedDict
from collections.abc import Callable

from esap_gateway.domain.errors import RateLimitedError

MAX_OWNERS = 100_000
"""Buckets kept at most; the least recently used goes first (a full bucket forgotten is the same as a new one)."""


class RateLimiter:
    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(per_minute)
        self._per_second = per_minute / 60.0
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # owner -> (tokens, at)

    def take(self, owner: str | None) -> None:
        """One state-changing request of ``owner``; RateLimitedError when over the rate."""
        if self._capacity <= 0:
            return
        key = owner or ""
        now = self._clock()
        tokens, at = self._buckets.pop(key, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - at) * self._per_second)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            raise RateLimitedError(math.ceil((1.0 - tokens) / self._per_second))
        self._buckets[key] = (tokens - 1.0, now)
        if len(self._buckets) > MAX_OWNERS:
            self._buckets.popitem(last=False)

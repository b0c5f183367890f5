"""A per-panel token bucket that every panel API call waits on (about 5 requests/s by default).

Buckets live in this process, keyed by the panel's base URL, so every adapter, runner and
request handler of one process shares the panel's budget. Sharing between nodes (PostgreSQL or
Redis buckets) is done by the scale-out layer, not here.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

DEFAULT_RATE = 5.0  # Admin API v2 allows about 5 requests/s per panel
# A short burst only: the panel's own algorithm is not published, and evenly spaced calls
# keep us clear of its 429s even when our clock and its clock see arrivals differently.
DEFAULT_BURST = 2


class TokenBucket:
    """Generic cell rate algorithm: ``rate`` calls per second with bursts of ``burst``.

    Each caller reserves its slot without awaiting, then sleeps until the slot comes, so
    callers are served in arrival order and nothing here is tied to one event loop.
    """

    def __init__(
        self, rate: float = DEFAULT_RATE, burst: int = DEFAULT_BURST,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._clock = clock
        self._lock = threading.Lock()
        self._tat = clock()  # theoretical arrival time of the next call
        self.configure(rate, burst)

    def configure(self, rate: float, burst: int) -> None:
        with self._lock:
            self.rate = rate
            self.burst = max(1, burst)
            self._interval = 1.0 / rate
            self._tau = (self.burst - 1) * self._interval

    def reserve(self) -> float:
        """Take the next slot; returns how many seconds to wait for it."""
        now = self._clock()
        with self._lock:
            tat = max(self._tat, now)
            allowed_at = tat - self._tau
            self._tat = tat + self._interval
        return max(0.0, allowed_at - now)

    async def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)

    def pause(self, seconds: float) -> None:
        """The panel said 429: nobody calls it again for ``seconds``."""
        now = self._clock()
        with self._lock:
            self._tat = max(self._tat, now + max(0.0, seconds) + self._tau)


_buckets: dict[str, TokenBucket] = {}
_buckets_lock = threading.Lock()


def bucket_for(key: str, rate: float | None = None, burst: int | None = None) -> TokenBucket:
    """The shared bucket of one panel (key = its base URL, without trailing slash).

    ``None`` means the defaults; the latest settings for a panel apply to every user of its
    bucket (adapters of one panel are all built from the same workspace settings).
    """
    key = key.rstrip("/").lower()
    rate, burst = rate or DEFAULT_RATE, burst or DEFAULT_BURST
    with _buckets_lock:
        bucket = _buckets.get(key)
        if bucket is None:
            bucket = _buckets[key] = TokenBucket(rate, burst)
        elif rate != bucket.rate or burst != bucket.burst:
            bucket.configure(rate, burst)
        return bucket

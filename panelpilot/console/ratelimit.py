"""Sign-in rate limiting: failed attempts per email and address, and per address alone.

Kept in process memory so it needs no table; with several web nodes each node counts on its
own, so the real limit is the per-node limit times the number of nodes (see the report to the
lead: a shared store can replace ``LoginLimiter`` behind the same three methods).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

MAX_FAILURES = 5  # per email and address
MAX_FAILURES_PER_ADDRESS = 50  # one address trying many emails
WINDOW_SECONDS = 15 * 60
MAX_KEYS = 50_000


class LoginLimiter:
    def __init__(self, *, max_failures: int = MAX_FAILURES,
                 max_per_address: int = MAX_FAILURES_PER_ADDRESS,
                 window: float = WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_failures = max_failures
        self.max_per_address = max_per_address
        self.window = window
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = {}

    def _keys(self, email: str, address: str) -> list[tuple[tuple[str, str], int]]:
        return [((email.strip().lower(), address), self.max_failures),
                (("*", address), self.max_per_address)]

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        horizon = self.clock() - self.window
        while times and times[0] <= horizon:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after(self, email: str, address: str) -> float:
        """Seconds until the next attempt is allowed; 0 when it is allowed now."""
        wait = 0.0
        for key, limit in self._keys(email, address):
            times = self._recent(key)
            if len(times) >= limit:
                wait = max(wait, times[len(times) - limit] + self.window - self.clock())
        return max(wait, 0.0)

    def failed(self, email: str, address: str) -> None:
        if len(self._failures) >= MAX_KEYS:
            self._prune()
        now = self.clock()
        for key, _ in self._keys(email, address):
            self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, email: str, address: str) -> None:
        # Only the email+address count is forgiven: a spraying address stays counted.
        self._failures.pop(self._keys(email, address)[0][0], None)

    def _prune(self) -> None:
        for key in list(self._failures):
            self._recent(key)
        if len(self._failures) >= MAX_KEYS:
            # Under a flood of distinct keys, drop the oldest half rather than grow without end.
            by_age = sorted(self._failures, key=lambda k: self._failures[k][-1])
            for key in by_age[: len(by_age) // 2]:
                del self._failures[key]

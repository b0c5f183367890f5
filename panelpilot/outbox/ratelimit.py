"""Send-rate limits shared by every worker process: GCRA buckets in the database or in Redis.

A bucket is the "theoretical arrival time" (TAT) of the next send. Reserving a send moves it
one interval further and says how long to wait before sending; ``burst`` sends may go at once.
With Redis configured the buckets live there (one round trip); on PostgreSQL in the
``rate_buckets`` table, shared by every node; on SQLite (one process) in memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Float, bindparam, text

from panelpilot.db.engine import Database


@dataclass(frozen=True)
class Limit:
    """``per_second`` sends on average, ``burst`` of them at once."""

    per_second: float
    burst: int = 1

    @property
    def interval(self) -> float:
        return 1.0 / self.per_second


class Limiter(Protocol):
    async def peek(self, key: str, limit: Limit) -> float: ...

    async def reserve(self, keys: list[tuple[str, Limit]]) -> float: ...

    async def pause(self, key: str, seconds: float, limit: Limit) -> None: ...


def _wait(new_tat: float, limit: Limit, now: float) -> float:
    return max(0.0, new_tat - limit.interval * limit.burst - now)


class SqlLimiter:
    def __init__(self, db: Database) -> None:
        self.db = db
        greatest = "MAX" if db.is_sqlite else "GREATEST"
        # One statement per bucket, made on first use: a separate "make sure the row exists"
        # step raced with a concurrent first send (its row not yet committed, so not seen).
        self._reserve = text(
            "INSERT INTO rate_buckets (key, tat) VALUES (:k, :now + :iv) ON CONFLICT (key) "
            f"DO UPDATE SET tat = {greatest}(rate_buckets.tat, :now) + :iv RETURNING tat"
        ).bindparams(bindparam("now", type_=Float()), bindparam("iv", type_=Float()))
        self._pause = text(
            "INSERT INTO rate_buckets (key, tat) VALUES (:k, :until) ON CONFLICT (key) "
            f"DO UPDATE SET tat = {greatest}(rate_buckets.tat, :until)"
        ).bindparams(bindparam("until", type_=Float()))

    async def peek(self, key: str, limit: Limit) -> float:
        now = time.time()
        async with self.db.read_session() as session:
            tat = (await session.execute(text("SELECT tat FROM rate_buckets WHERE key = :k"),
                                         {"k": key})).scalar()
        if tat is None:
            return 0.0
        return _wait(max(float(tat), now) + limit.interval, limit, now)

    async def reserve(self, keys: list[tuple[str, Limit]]) -> float:
        now = time.time()
        wait = 0.0
        async with self.db.platform_session() as session:
            for key, limit in keys:
                new_tat = (await session.execute(
                    self._reserve, {"now": now, "iv": limit.interval, "k": key})).scalar_one()
                wait = max(wait, _wait(float(new_tat), limit, now))
        return wait

    async def pause(self, key: str, seconds: float, limit: Limit) -> None:
        """Hold a bucket: nothing passes it for ``seconds`` (after a 429's retry_after)."""
        # The burst allowance would let sends through early: push the TAT past it too.
        until = time.time() + seconds + (limit.burst - 1) * limit.interval
        async with self.db.platform_session() as session:
            await session.execute(self._pause, {"until": until, "k": key})


_RESERVE = """
local now = tonumber(ARGV[1])
local wait = 0
for i = 1, #KEYS do
  local iv = tonumber(ARGV[2 * i])
  local burst = tonumber(ARGV[2 * i + 1])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  tat = tat + iv
  redis.call('SET', KEYS[i], tostring(tat), 'EX', math.ceil(tat - now + 60))
  local w = tat - iv * burst - now
  if w > wait then wait = w end
end
return tostring(wait)
"""


class RedisLimiter:
    def __init__(self, url: str, prefix: str = "panelpilot:rate:") -> None:
        import redis.asyncio as redis

        self.client = redis.from_url(url)
        self.prefix = prefix
        self._script = self.client.register_script(_RESERVE)

    async def peek(self, key: str, limit: Limit) -> float:
        now = time.time()
        raw = await self.client.get(self.prefix + key)
        if raw is None:
            return 0.0
        return _wait(max(float(raw), now) + limit.interval, limit, now)

    async def reserve(self, keys: list[tuple[str, Limit]]) -> float:
        args: list[Any] = [time.time()]
        for _, limit in keys:
            args += [limit.interval, limit.burst]
        result = await self._script(keys=[self.prefix + k for k, _ in keys], args=args)
        return max(0.0, float(result))

    async def pause(self, key: str, seconds: float, limit: Limit) -> None:
        until = time.time() + seconds + (limit.burst - 1) * limit.interval
        current = await self.client.get(self.prefix + key)
        if current is None or float(current) < until:
            await self.client.set(self.prefix + key, str(until), ex=int(seconds) + 60)


class MemoryLimiter:
    """Buckets in this process only: for the embedded single-process mode on SQLite.

    Several processes sharing limits need PostgreSQL or Redis (see ``make_limiter``); on SQLite
    a write transaction per send would be the bottleneck of the whole process.
    """

    def __init__(self) -> None:
        self._tat: dict[str, float] = {}

    async def peek(self, key: str, limit: Limit) -> float:
        now = time.time()
        tat = self._tat.get(key)
        return 0.0 if tat is None else _wait(max(tat, now) + limit.interval, limit, now)

    async def reserve(self, keys: list[tuple[str, Limit]]) -> float:
        now = time.time()
        wait = 0.0
        for key, limit in keys:
            tat = max(self._tat.get(key, 0.0), now) + limit.interval
            self._tat[key] = tat
            wait = max(wait, _wait(tat, limit, now))
        if len(self._tat) > 100_000:
            self._tat = {k: v for k, v in self._tat.items() if v > now}
        return wait

    async def pause(self, key: str, seconds: float, limit: Limit) -> None:
        until = time.time() + seconds + (limit.burst - 1) * limit.interval
        self._tat[key] = max(self._tat.get(key, 0.0), until)


def make_limiter(db: Database, redis_url: str | None) -> Limiter:
    """Redis when configured; the database on PostgreSQL; this process's memory on SQLite."""
    if redis_url:
        return RedisLimiter(redis_url)
    return MemoryLimiter() if db.is_sqlite else SqlLimiter(db)

"""Send-rate limits shared by every worker process: GCRA buckets in the database or in Redis.

A bucket is the "theoretical arrival time" (TAT) of the next send. Reserving a send moves it
one interval further and says how long to wait before sending; ``burst`` sends may go at once.
``admit`` first looks at the last bucket (a chat's): a send that would wait there longer than
the sender's horizon reserves nothing and goes back to the queue instead.
With Redis configured the buckets live there (one round trip); on PostgreSQL in the
``rate_buckets`` table, shared by every node (``admit`` can then run inside the outbox claim's
transaction, costing no transaction of its own); on SQLite (one process) in memory.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Float, bindparam, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from panelpilot.db import fast
from panelpilot.db.engine import Database
from panelpilot.db.inserts import dialect_insert
from panelpilot.runners.models import RateBucket


@dataclass(frozen=True)
class Limit:
    """``per_second`` sends on average, ``burst`` of them at once."""

    per_second: float
    burst: int = 1

    @property
    def interval(self) -> float:
        return 1.0 / self.per_second


Keys = list[tuple[str, Limit]]


class Limiter(Protocol):
    async def peek(self, key: str, limit: Limit) -> float: ...

    async def reserve(self, keys: Keys) -> float: ...

    async def admit(self, keys: Keys, horizon: float) -> tuple[bool, float]: ...

    async def pause(self, key: str, seconds: float, limit: Limit) -> None: ...


async def _admit(limiter: Limiter, keys: Keys, horizon: float) -> tuple[bool, float]:
    """Reserve on every bucket unless the last alone would hold the send past ``horizon``:
    (True, wait before sending) or (False, how long until it could go)."""
    key, limit = keys[-1]
    ahead = await limiter.peek(key, limit)
    if ahead > horizon:
        return False, ahead
    return True, await limiter.reserve(keys)


def _wait(new_tat: float, limit: Limit, now: float) -> float:
    return max(0.0, new_tat - limit.interval * limit.burst - now)


class SqlLimiter:
    """Buckets in the ``rate_buckets`` table, shared by every node.

    Admissions lock their buckets (in key order) and settle a whole batch of sends in two
    statements: make missing buckets while locking and reading them all, write the new times.
    """

    def __init__(self, db: Database) -> None:
        self.db = db
        greatest = "MAX" if db.is_sqlite else "GREATEST"
        self._pause = text(
            "INSERT INTO rate_buckets (key, tat) VALUES (:k, :until) ON CONFLICT (key) "
            f"DO UPDATE SET tat = {greatest}(rate_buckets.tat, :until)"
        ).bindparams(bindparam("until", type_=Float()))

    async def peek(self, key: str, limit: Limit) -> float:
        now = time.time()
        async with self.db.connection(write=False) as conn:
            tat = (await conn.execute(_PEEK, {"k": key})).scalar()
        if tat is None:
            return 0.0
        return _wait(max(float(tat), now) + limit.interval, limit, now)

    async def reserve(self, keys: Keys) -> float:
        async with self.db.connection() as conn:
            return (await self.admit_many(conn, [(keys, None)]))[0][1]

    async def admit(self, keys: Keys, horizon: float) -> tuple[bool, float]:
        async with self.db.connection() as conn:
            return (await self.admit_many(conn, [(keys, horizon)]))[0]

    async def admit_many(self, conn: AsyncConnection,
                         requests: list[tuple[Keys, float | None]]) -> list[tuple[bool, float]]:
        """``admit`` for many sends in the caller's transaction (the outbox claim's), in
        order; a horizon of None always reserves."""
        names = sorted({key for keys, _ in requests for key, _ in keys})
        if not names:
            return [(True, 0.0) for _ in requests]
        rows = await fast.run(conn, _lock(conn.dialect.name), [{"key": key} for key in names])
        tats = {key: float(tat) for key, tat in rows}
        now = time.time()
        answers: list[tuple[bool, float]] = []
        for keys, horizon in requests:
            last, limit = keys[-1]
            ahead = _wait(max(tats[last], now) + limit.interval, limit, now)
            if horizon is not None and ahead > horizon:
                answers.append((False, ahead))
                continue
            wait = 0.0
            for key, each in keys:
                tats[key] = max(tats[key], now) + each.interval
                wait = max(wait, _wait(tats[key], each, now))
            answers.append((True, wait))
        await fast.run(conn, _SET, [{"b_key": key, "b_tat": tat} for key, tat in tats.items()])
        return answers

    async def pause(self, key: str, seconds: float, limit: Limit) -> None:
        """Hold a bucket: nothing passes it for ``seconds`` (after a 429's retry_after)."""
        # The burst allowance would let sends through early: push the TAT past it too.
        until = time.time() + seconds + (limit.burst - 1) * limit.interval
        async with self.db.connection() as conn:
            await conn.execute(self._pause, {"until": until, "k": key})


_LOCKS: dict[str, Any] = {}


def _lock(dialect: str) -> Any:
    """Make the buckets that do not exist yet, lock them all and read them, in one statement:
    an upsert that changes nothing but locks the row (keys in order: no deadlocks)."""
    stmt = _LOCKS.get(dialect)
    if stmt is None:
        stmt = _LOCKS[dialect] = (
            dialect_insert(dialect)(RateBucket).values(key=bindparam("key"), tat=0.0)
            .on_conflict_do_update(index_elements=[RateBucket.key],
                                   set_={"tat": RateBucket.tat})
            .returning(RateBucket.key, RateBucket.tat))
    return stmt


_SET = (update(RateBucket).where(RateBucket.key == bindparam("b_key"))
        .values(tat=bindparam("b_tat")))
_PEEK = text("SELECT tat FROM rate_buckets WHERE key = :k")

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

    async def reserve(self, keys: Keys) -> float:
        args: list[Any] = [time.time()]
        for _, limit in keys:
            args += [limit.interval, limit.burst]
        result = await self._script(keys=[self.prefix + k for k, _ in keys], args=args)
        return max(0.0, float(result))

    async def admit(self, keys: Keys, horizon: float) -> tuple[bool, float]:
        return await _admit(self, keys, horizon)

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

    async def reserve(self, keys: Keys) -> float:
        now = time.time()
        wait = 0.0
        for key, limit in keys:
            tat = max(self._tat.get(key, 0.0), now) + limit.interval
            self._tat[key] = tat
            wait = max(wait, _wait(tat, limit, now))
        if len(self._tat) > 100_000:
            self._tat = {k: v for k, v in self._tat.items() if v > now}
        return wait

    async def admit(self, keys: Keys, horizon: float) -> tuple[bool, float]:
        return await _admit(self, keys, horizon)

    async def pause(self, key: str, seconds: float, limit: Limit) -> None:
        until = time.time() + seconds + (limit.burst - 1) * limit.interval
        self._tat[key] = max(self._tat.get(key, 0.0), until)


def make_limiter(db: Database, redis_url: str | None) -> Limiter:
    """Redis when configured; the database on PostgreSQL; this process's memory on SQLite."""
    if redis_url:
        return RedisLimiter(redis_url)
    return MemoryLimiter() if db.is_sqlite else SqlLimiter(db)

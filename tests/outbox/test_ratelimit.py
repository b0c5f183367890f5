"""The SQL rate limiter (GCRA buckets in ``rate_buckets``), as PostgreSQL and SQLite nodes
share it: reservations space sends out, a fresh bucket survives concurrent first sends, and a
429's pause holds the bucket."""

from __future__ import annotations

import asyncio

from panelpilot.context import Context
from panelpilot.outbox.ratelimit import Limit, SqlLimiter

SLOW = Limit(per_second=0.1)  # one send every 10 s: waits are far apart


async def test_concurrent_first_sends_of_a_new_bucket_are_spaced_not_lost(ctx: Context) -> None:
    limiter = SqlLimiter(ctx.db)
    waits = await asyncio.gather(*(limiter.reserve([("bot:1", SLOW)]) for _ in range(5)))
    ordered = sorted(waits)
    assert ordered[0] < 1.0  # the first goes at once
    # each next one waits about one more interval (10 s); none shares a slot
    assert all(later - earlier > 5.0 for earlier, later in zip(ordered, ordered[1:], strict=False))


async def test_a_pause_holds_the_bucket(ctx: Context) -> None:
    limiter = SqlLimiter(ctx.db)
    await limiter.pause("bot:2", 60.0, Limit(per_second=30))
    assert await limiter.peek("bot:2", Limit(per_second=30)) > 50.0
    assert await limiter.reserve([("bot:2", Limit(per_second=30))]) > 50.0
    # another bucket is not held
    assert await limiter.reserve([("bot:3", Limit(per_second=30))]) < 1.0

"""Cooldowns are claimed atomically: identical requests decided at the same instant, in
separate transactions (as on separate workers), dispatch once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, select

from panelpilot.db.base import utcnow
from panelpilot.orders.models import Dispatch, OrderCooldown
from panelpilot.orders.workflow import Request, claim_cooldown, commit, evaluate
from panelpilot.sim.smm_data import now_utc
from tests.orders.helpers import Shop


async def _race(shop: Shop, order_ids: list[str], copies: int = 2) -> list[list[str]]:
    """Evaluate the same request ``copies`` times, then commit them all at once."""
    request = Request("refill", order_ids, "john_doe", "chat", " ".join(order_ids) + " refill")
    plans = [await evaluate(shop.ctx, shop.workspace_id, request) for _ in range(copies)]
    assert all(v.verdict == "sent" for p in plans for v in p.verdicts)

    async def run(n: int) -> list[str]:
        async with shop.ctx.db.session(shop.workspace_id) as session:
            outcome = await commit(session, plans[n], key_prefix=f"race{n}")
            return [v.verdict for v in outcome.verdicts]

    return list(await asyncio.gather(*(run(n) for n in range(copies))))


async def _dispatched(shop: Shop) -> list[str]:
    async with shop.ctx.db.read_session(shop.workspace_id) as s:
        rows = (await s.execute(select(Dispatch.order_ids))).scalars()
        return sorted(i for r in rows for i in r.split(",") if i)


async def test_two_identical_requests_at_the_same_instant_dispatch_once(shop: Shop) -> None:
    results = await _race(shop, ["2274209"])
    assert sorted(r[0] for r in results) == ["cooldown", "sent"]
    assert await _dispatched(shop) == ["2274209"]


async def test_many_racing_requests_dispatch_each_order_once(shop: Shop) -> None:
    ids = []
    for n in range(8):
        order = shop.panel.add_order(2274400 + n, user="john_doe", service_id=101,
                                     status="completed", external_id=f"EXT-R{n}",
                                     provider="smmprovider.com",
                                     created=now_utc() - timedelta(days=1))
        ids.append(order.id)
    results = await _race(shop, ids, copies=4)
    for column in zip(*results, strict=True):
        assert sorted(column) == ["cooldown", "cooldown", "cooldown", "sent"]
    assert await _dispatched(shop) == sorted(ids)
    async with shop.ctx.db.read_session(shop.workspace_id) as s:
        assert (await s.execute(select(func.count()).select_from(OrderCooldown))
                ).scalar_one() == 8


async def test_an_expired_cooldown_is_taken_over_by_one_claim(shop: Shop) -> None:
    now = utcnow()
    async with shop.ctx.db.session(shop.workspace_id) as s:
        held = await claim_cooldown(s, shop.workspace_id, "2274209", "refill",
                                    now - timedelta(seconds=1), now - timedelta(hours=1), None,
                                    "test")
        assert held is None
    results = await _race(shop, ["2274209"], copies=3)
    assert sorted(r[0] for r in results) == ["cooldown", "cooldown", "sent"]


async def test_claim_reports_when_the_holder_s_cooldown_ends(shop: Shop) -> None:
    now = utcnow()
    until = now + timedelta(minutes=30)
    async with shop.ctx.db.session(shop.workspace_id) as s:
        assert await claim_cooldown(s, shop.workspace_id, "1", "speed", until, now, None,
                                    "a") is None
    async with shop.ctx.db.session(shop.workspace_id) as s:
        held = await claim_cooldown(s, shop.workspace_id, "1", "speed",
                                    now + timedelta(hours=2), now, None, "b")
    assert held is not None and abs((held - until).total_seconds()) < 1
    async with shop.ctx.db.session(shop.workspace_id) as s:
        assert await claim_cooldown(s, shop.workspace_id, "1", "cancel", until, now, None,
                                    "c") is None

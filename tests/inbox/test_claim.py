"""Claiming inbound events (``inbox.claim``): per chat the oldest, and a claim's time never
before the moment the previous event of its chat was finished."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from panelpilot.context import Context
from panelpilot.db import claims
from panelpilot.db.base import utcnow
from panelpilot.inbox.claim import claim
from panelpilot.inbox.models import EventStatus, InboundEvent
from tests.console.logdata import add_channel, add_event
from tests.support import Tenants


async def test_per_chat_only_the_oldest(ctx: Context, tenants: Tenants) -> None:
    ws = tenants.acme_id
    channel = await add_channel(ctx, ws)
    a1 = await add_event(ctx, ws, channel, chat_id="1", text="a1", status="new")
    b1 = await add_event(ctx, ws, channel, chat_id="2", text="b1", status="new")
    a2 = await add_event(ctx, ws, channel, chat_id="1", text="a2", status="new")
    assert [c.id for c in await claim(ctx.db, 10)] == [a1, b1]
    assert await claim(ctx.db, 10) == []  # a2 waits for a1
    async with ctx.db.platform_session() as s:
        await s.execute(update(InboundEvent).where(InboundEvent.id == a1)
                        .values(status=EventStatus.DONE, processed_at=utcnow()))
    assert [c.id for c in await claim(ctx.db, 10)] == [a2]


async def test_started_never_before_the_previous_event_finished(
    ctx: Context, tenants: Tenants, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A PostgreSQL claim reads "now" in Python and then goes over the network; a commit that
    # lands in between (another worker finishing the chat's previous event) is seen by the
    # statement, so the claim's time must not be the earlier "now".
    if ctx.db.is_sqlite:
        pytest.skip("PostgreSQL only: SQLite reads 'now' after taking the write lock")
    ws = tenants.acme_id
    channel = await add_channel(ctx, ws)
    first = await add_event(ctx, ws, channel, chat_id="1", text="first", status="done")
    second = await add_event(ctx, ws, channel, chat_id="1", text="second", status="new")
    async with ctx.db.platform_session() as s:
        finished = (await s.execute(select(InboundEvent.processed_at)
                                    .where(InboundEvent.id == first))).scalar_one()
    read_early = finished - timedelta(seconds=1)
    monkeypatch.setattr(claims, "utcnow", lambda: read_early)
    assert [c.id for c in await claim(ctx.db, 10)] == [second]
    async with ctx.db.platform_session() as s:
        started = (await s.execute(select(InboundEvent.started_at)
                                   .where(InboundEvent.id == second))).scalar_one()
    assert started is not None and finished is not None and started >= finished

"""Claiming queued messages (``outbox.sender.claim`` over ``db.claims``): per chat only the
oldest, never one taken twice, a lapsed lease taken again, a paused channel left alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from panelpilot.channels.models import ChannelAccount
from panelpilot.db.base import utcnow
from panelpilot.outbox.enqueue import enqueue
from panelpilot.outbox.models import OutboundMessage, SendStatus
from panelpilot.outbox.sender import claim
from panelpilot.settings import Settings
from tests.e2e.harness import Stack, build_stack


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    async for s in build_stack(settings, workers=False):
        yield s


async def _queue(stack: Stack, channel_id: int, chats: list[str]) -> list[int]:
    async with stack.ctx.db.session(stack.workspace_id) as s:
        for n, chat in enumerate(chats):
            await enqueue(s, stack.workspace_id, channel_id=channel_id, kind="telegram",
                          chat_id=chat, text=f"text {n}", key=f"k{n}")
        return list((await s.execute(select(OutboundMessage.id)
                                     .order_by(OutboundMessage.id))).scalars())


async def _set(stack: Stack, message_id: int, **values: object) -> None:
    async with stack.ctx.db.platform_session() as s:
        await s.execute(update(OutboundMessage).where(OutboundMessage.id == message_id)
                        .values(**values))


async def test_per_chat_only_the_oldest_and_never_twice(stack: Stack) -> None:
    channel_id = await stack.telegram("polling")
    a1, b1, a2, a3 = await _queue(stack, channel_id, ["a", "b", "a", "a"])
    first = await claim(stack.ctx.db, 10)
    assert [j.id for j in first] == [a1, b1]
    assert await claim(stack.ctx.db, 10) == []  # a1 and b1 are being sent
    await _set(stack, a1, status=SendStatus.SENT, locked_until=None)
    assert [j.id for j in await claim(stack.ctx.db, 10)] == [a2]
    await _set(stack, a2, status=SendStatus.SENT, locked_until=None)
    assert [j.id for j in await claim(stack.ctx.db, 10)] == [a3]


async def test_concurrent_claims_share_nothing(stack: Stack) -> None:
    channel_id = await stack.telegram("polling")
    queued = await _queue(stack, channel_id, [f"chat{n}" for n in range(40)])
    taken: list[int] = []
    for _ in range(10):  # rounds of eight workers claiming at the same moment
        batches = await asyncio.gather(*(claim(stack.ctx.db, 7) for _ in range(8)))
        assert all(len(batch) <= 7 for batch in batches)
        taken += [j.id for batch in batches for j in batch]
    assert sorted(taken) == queued  # every message taken, none by two claims


async def test_a_lapsed_lease_is_taken_again_with_a_new_token(stack: Stack) -> None:
    channel_id = await stack.telegram("polling")
    (only,) = await _queue(stack, channel_id, ["a"])
    (job,) = await claim(stack.ctx.db, 1)
    assert await claim(stack.ctx.db, 1) == []
    await _set(stack, only, locked_until=utcnow() - timedelta(seconds=1))
    (again,) = await claim(stack.ctx.db, 1)
    assert again.id == only and again.attempts == job.attempts + 1


async def test_a_paused_channel_is_left_alone(stack: Stack) -> None:
    channel_id = await stack.telegram("polling")
    await _queue(stack, channel_id, ["a"])
    async with stack.ctx.db.platform_session() as s:
        await s.execute(update(ChannelAccount).where(ChannelAccount.id == channel_id)
                        .values(paused_until=utcnow() + timedelta(minutes=5)))
    assert await claim(stack.ctx.db, 5) == []

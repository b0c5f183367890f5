"""Turns finishing together share a transaction (``inbox.process``): a turn whose claim was
taken over meanwhile writes nothing, and its neighbours still commit and answer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select, update

from panelpilot.inbox.claim import claim
from panelpilot.inbox.context import preparer
from panelpilot.inbox.models import EventStatus, InboundEvent
from panelpilot.inbox.process import LostClaim, process
from panelpilot.outbox.models import OutboundMessage, SendStatus
from panelpilot.outbox.sender import Sender
from panelpilot.settings import Settings
from tests.e2e.harness import TG_TOKEN, Stack, build_stack, eventually


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    async for s in build_stack(settings, workers=False):
        yield s


async def test_a_taken_over_turn_writes_nothing_and_spares_its_neighbours(stack: Stack) -> None:
    ctx = stack.ctx
    await stack.telegram("webhook")
    # This process's sender takes the first answers over, as in a running worker.
    sender = Sender(ctx, lease=60)
    sender.taking_over = True
    ctx.state["local_sender"] = sender
    stack.tg.user_says(TG_TOKEN, 501, "help")
    stack.tg.user_says(TG_TOKEN, 502, "help")

    async def stored() -> bool:
        async with ctx.db.platform_session() as s:
            return (await s.execute(select(func.count()).select_from(InboundEvent))
                    ).scalar_one() == 2

    await eventually(stored)
    lost, kept = await claim(ctx.db, 10, prepare=preparer(ctx))
    async with ctx.db.platform_session() as s:  # another worker took it once the lease ran out
        await s.execute(update(InboundEvent).where(InboundEvent.id == lost.id)
                        .values(attempts=InboundEvent.attempts + 1))
    outcomes = await asyncio.gather(process(ctx, lost), process(ctx, kept),
                                    return_exceptions=True)
    assert isinstance(outcomes[0], LostClaim) and outcomes[1] == "help"
    await sender.finish_handed(10)

    async with ctx.db.platform_session() as s:
        events = {e.id: e for e in (await s.execute(select(InboundEvent))).scalars()}
        replies = list((await s.execute(select(OutboundMessage))).scalars())
    assert (events[lost.id].status, events[lost.id].processed_at) == (EventStatus.PROCESSING,
                                                                     None)
    assert events[kept.id].status == EventStatus.DONE
    assert [(r.source_event_id, r.status) for r in replies] == [(kept.id, SendStatus.SENT)]
    # The two updates may be stored in either order: the answer went to the kept one's chat.
    assert [f"{kept.channel_id}:{m['chat_id']}" for m in stack.tg.sent(TG_TOKEN)] == [
        kept.chat_key]

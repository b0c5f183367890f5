"""Storing events: concurrent webhooks share commits (in lanes on PostgreSQL), yet each chat's
events are stored, and become visible, in the order they came in."""

from __future__ import annotations

import asyncio
import time

from sqlalchemy import select

from panelpilot.channels.base import RawEvent
from panelpilot.channels.service import creds_of, set_channel
from panelpilot.context import Context
from panelpilot.inbox.ingest import store
from panelpilot.inbox.models import InboundEvent
from tests.support import Tenants


async def test_each_chats_events_keep_their_order(ctx: Context, tenants: Tenants) -> None:
    async with ctx.db.session(tenants.acme_id) as s:
        channel, _ = await set_channel(s, ctx.keyring, tenants.acme_id, key="tg",
                                       kind="telegram", mode="webhook",
                                       fields={"token": "123456:AAorderorderorderorderorder00"})
        creds = creds_of(ctx.keyring, channel)

    def update(n: int, chat: int) -> RawEvent:
        return RawEvent(str(n), {"update_id": n, "message": {
            "message_id": n, "date": int(time.time()), "text": f"m{n}",
            "chat": {"id": chat, "type": "private", "first_name": "A"},
            "from": {"id": chat, "is_bot": False, "first_name": "A"}}})

    # Forty webhooks at once over eight chats, each stored by its own task.
    said = [(n, 1000 + n % 8) for n in range(40)]
    await asyncio.gather(*(store(ctx, creds, [update(n, chat)]) for n, chat in said))
    async with ctx.db.platform_session() as s:
        rows = (await s.execute(select(InboundEvent.id, InboundEvent.chat_key,
                                       InboundEvent.event_key)
                                .order_by(InboundEvent.id))).all()
    assert len(rows) == 40
    for chat in {chat for _, chat in said}:
        in_id_order = [int(key) for _, chat_key, key in rows if chat_key == f"{creds.id}:{chat}"]
        assert in_id_order == [n for n, c in said if c == chat]

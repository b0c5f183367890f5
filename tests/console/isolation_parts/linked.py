"""Isolation-test additions for linked users and the test console (see ``__init__``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.chats.models import Chat
from panelpilot.context import Context
from panelpilot.db.base import utcnow
from panelpilot.orders import linking
from panelpilot.orders.models import CommandLog, LinkedChat, OrderTestRun
from tests.support import Tenants

BODIES: dict[str, dict[str, str]] = {
    "/w/{slug}/linked": {"chat_channel": "tg", "chat": "4242", "username": "sneaky"},
    "/w/{slug}/linked/{chat_pk}/unlink": {},
    "/w/{slug}/test-console": {"as": "__support__", "text": "2274209 refill"},
}
OBJECT_PARAMS: tuple[str, ...] = ("{run_id}",)
# The test console calls the panel for real: owners only, agents get 403 even to look.
OWNER_ONLY: tuple[str, ...] = ("/w/{slug}/test-console",)


async def seed(ctx: Context, tenants: Tenants, ids: dict[str, str]) -> dict[str, str]:
    async with ctx.db.session(tenants.acme_id) as s:
        chat = (await s.execute(select(Chat).where(Chat.id == int(ids["chat_pk"])))).scalar_one()
        await linking.link(s, tenants.acme_id, chat, "jane_buyer", source="file",
                           by="workspace file")
        s.add(CommandLog(workspace_id=tenants.acme_id, created_at=utcnow(), source="chat",
                         channel_id=chat.channel_id, chat_id=chat.chat_id, username="jane_buyer",
                         text="2274209 refill", kind="order_action", action="refill",
                         outcome="sent", order_count=1, reply="Acme's answer"))
        run = OrderTestRun(workspace_id=tenants.acme_id, created_at=utcnow(),
                           run_by="owner@acme.test", username="jane_buyer",
                           text="2274209 refill", passed=False, summary="Acme's test run",
                           result={"kind": "order_action", "action": "refill",
                                   "order_ids": ["2274209"], "verdicts": [], "dispatches": []})
        s.add(run)
        await s.flush()
        return {"run_id": str(run.id)}


async def snapshot(ctx: Context, session: AsyncSession) -> dict[str, Any]:
    links = (await session.execute(select(LinkedChat))).scalars()
    runs = (await session.execute(select(OrderTestRun.id))).scalars()
    return {"links": sorted((r.chat_pk, r.username, r.source, r.linked_by) for r in links),
            "test_runs": sorted(runs)}

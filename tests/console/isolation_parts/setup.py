"""Isolation-test additions for the setup pages: provider routes, support chats, aliases, order
rules and service rules (see ``__init__``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.context import Context
from panelpilot.db.base import utcnow
from panelpilot.orders import admin, linking
from panelpilot.orders.models import (
    OrderSettings,
    ProviderRoute,
    ServiceCache,
    ServiceOverride,
    SupportChat,
)
from tests.console.logdata import add_chat
from tests.support import Tenants

_ROUTE = {"name": "sneaky", "match": "sneaky.com", "group": "", "channel": "tg",
          "chat": "-100999", "command_speed": "", "command_cancel": "",
          "command_refill": "{external_id} sneaky", "bulk": "1"}
BODIES: dict[str, dict[str, str]] = {
    "/w/{slug}/routes": _ROUTE,
    "/w/{slug}/routes/preview": _ROUTE,
    "/w/{slug}/routes/{route_id}": {**_ROUTE, "name": "acme-provider"},
    "/w/{slug}/routes/{route_id}/delete": {},
    "/w/{slug}/support": {"channel": "tg", "chat": "-100888", "fallback": "1"},
    "/w/{slug}/support/{support_id}/remove": {},
    "/w/{slug}/aliases": {"word": "sneaky", "target": "cancel"},
    "/w/{slug}/aliases/remove": {"word": "yenile"},
    "/w/{slug}/order-rules": {"max_ids": "3", "refill_window_from": "creation",
                              "cooldown_speed": "1", "cooldown_cancel": "1",
                              "cooldown_refill": "1", "tickets_lookback_hours": "24"},
    "/w/{slug}/order-rules/reset": {},
    "/w/{slug}/services/refresh": {},
    "/w/{slug}/services/{service_id}/rule": {"start": "instant", "refill": "none"},
    "/w/{slug}/services/{service_id}/rule/delete": {},
}
OBJECT_PARAMS: tuple[str, ...] = ("{route_id}", "{support_id}", "{service_id}")


async def seed(ctx: Context, tenants: Tenants, ids: dict[str, str]) -> dict[str, str]:
    ws = tenants.acme_id
    channel_id = int(ids["channel_id"])
    group = await add_chat(ctx, ws, channel_id, "-100777", title="Acme provider group",
                           chat_type="supergroup")
    team = await add_chat(ctx, ws, channel_id, "-100666", title="Acme team",
                          chat_type="supergroup")
    async with ctx.db.session(ws) as s:
        route = await admin.save_route(s, ws, admin.RouteIn(
            "acme-provider", ["acme-provider.com"], "tg", "-100777", {}, True))
        chat, _ = await admin.chat_by_ref(s, ws, "tg", "-100666")
        await linking.make_support(s, ws, chat, fallback=True, source="api")
        await admin.set_settings(s, ws, rules={"max_ids": 7}, aliases={"yenile": "refill"})
        s.add(ServiceCache(workspace_id=ws, service_id="4242",
                           name="Acme Likes [Start: 0-1 Hour] [Refill: 30 Days]",
                           category="Instagram", refreshed_at=utcnow()))
        await admin.set_service_rule(s, ws, "4242", start="instant", refill=None, note="")
        support_id = (await s.execute(
            select(SupportChat.id).where(SupportChat.chat_pk == chat.id))).scalar_one()
        route_id = route.id
    assert group and team
    return {"route_id": str(route_id), "support_id": str(support_id), "service_id": "4242"}


async def snapshot(ctx: Context, session: AsyncSession) -> dict[str, Any]:
    settings = (await session.execute(select(OrderSettings))).scalar()
    return {
        "routes": sorted((r.id, r.name, str(r.match), r.channel_id, r.chat_id,
                          str(r.commands), r.bulk) for r in
                         (await session.execute(select(ProviderRoute))).scalars()),
        "support": sorted((r.id, r.chat_pk, r.fallback) for r in
                          (await session.execute(select(SupportChat))).scalars()),
        "settings": (str(settings.rules), str(settings.aliases),
                     settings.services_checked_at) if settings else None,
        "overrides": sorted((o.service_id, o.start_min_s, o.start_max_s, o.refill_kind,
                             o.refill_days, o.note) for o in
                            (await session.execute(select(ServiceOverride))).scalars()),
        "services": sorted((c.service_id, c.name, c.refreshed_at) for c in
                           (await session.execute(select(ServiceCache))).scalars()),
    }

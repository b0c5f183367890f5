"""One row of every order-support table in a workspace, and request bodies for the order-support
API: what a cross-workspace matrix needs to call every ``/orders`` endpoint with real ids.

``tests/tenancy/test_isolation.py`` can use it as it is::

    from tests.orders.isolation import ORDER_BODIES, order_ids
    BODIES.update(ORDER_BODIES)          # next to BODIES
    ids.update(await order_ids(ctx, tenants.acme_id))   # at the end of _ids()
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from panelpilot.channels.service import set_channel
from panelpilot.context import Context
from panelpilot.db.base import utcnow
from panelpilot.orders import linking
from panelpilot.orders.admin import set_settings
from panelpilot.orders.models import (
    CommandLog,
    CommandOrder,
    Dispatch,
    LinkedChat,
    OrderCooldown,
    OrderTestRun,
    PanelCall,
    PanelTicketLog,
    ProviderRoute,
    ServiceOverride,
    SupportChat,
)

P = "/api/v1/workspaces/{slug}/orders"
ORDER_BODIES = {
    ("PUT", f"{P}/settings"): {"rules": {"max_ids": 5}, "aliases": {"yenile": "refill"}},
    ("POST", f"{P}/providers"): {"name": "newprov", "match": ["newprov.com"]},
    ("PUT", f"{P}/providers/{{route_id}}"): {"name": "prov", "match": ["prov.com"]},
    ("POST", f"{P}/linked-chats"): {"channel": "ordersbot", "chat": "4242",
                                    "username": "someone"},
    ("POST", f"{P}/support-chats"): {"channel": "ordersbot", "chat": "-4343"},
    ("PUT", f"{P}/services/{{service_id}}/rule"): {"refill": 30},
    ("POST", f"{P}/providers/preview"): {"commands": {"refill": "{external_id} refill"}},
    ("PUT", f"{P}/aliases/{{word}}"): {"command": "refill"},
    ("POST", f"{P}/check"): {"text": "help"},
    ("POST", f"{P}/test-runs"): {"text": "help"},
}


async def order_ids(ctx: Context, workspace_id: int) -> dict[str, str]:
    """Make one row of each kind in the workspace; the path parameters that name them."""
    now = utcnow()
    async with ctx.db.session(workspace_id) as s:
        ch, _ = await set_channel(s, ctx.keyring, workspace_id, key="ordersbot",
                                  kind="telegram", mode="polling",
                                  fields={"token": "9:orders-token"})
        customer = await linking.chat_for(s, workspace_id, ch.id, "telegram", "5005")
        team = await linking.chat_for(s, workspace_id, ch.id, "telegram", "-6006")
        await linking.link(s, workspace_id, customer, "john_doe", source="api")
        await linking.make_support(s, workspace_id, team, fallback=False, source="api")
        route = ProviderRoute(workspace_id=workspace_id, name="prov", match=["prov.com"],
                              commands={}, bulk=True, source="api")
        command = CommandLog(workspace_id=workspace_id, created_at=now, source="chat",
                             channel_id=ch.id, chat_id="5005", username="john_doe",
                             text="2274209 refill", kind="order_action", action="refill",
                             outcome="sent", order_count=1, reply="ok", detail="",
                             latency_ms=5)
        s.add_all([route, command])
        await s.flush()
        dispatch = Dispatch(workspace_id=workspace_id, created_at=now, command_id=command.id,
                            route_name="prov", provider="prov.com", action="refill",
                            channel_id=ch.id, chat_id="-7007", text="EXT-1 refill",
                            order_ids=",2274209,", external_ids=["EXT-1"])
        cooldown = OrderCooldown(workspace_id=workspace_id, order_id="2274209",
                                 action="refill", until=now + timedelta(hours=1),
                                 command_id=command.id, requested_by="john_doe", hits=0,
                                 created_at=now)
        ticket = PanelTicketLog(workspace_id=workspace_id, ticket_id="501",
                                username="john_doe", subject="Order", message="2274209 refill",
                                action="refill", order_ids=["2274209"], status="replied",
                                reply="ok", error="", attempts=1, created_at=now)
        override = ServiceOverride(workspace_id=workspace_id, service_id="101",
                                   refill_kind="days", refill_days=30, note="", source="api")
        call = PanelCall(workspace_id=workspace_id, created_at=now, operation="get_orders",
                         purpose="chat", detail="1 id(s): 2274209", ok=True,
                         duration_ms=40, command_id=command.id)
        run = OrderTestRun(workspace_id=workspace_id, created_at=now, run_by="owner",
                           username="john_doe", text="2274209 refill", passed=False,
                           summary="Not passed", result={})
        s.add_all([dispatch, cooldown, ticket, override, call, run])
        await s.flush()
        await set_settings(s, workspace_id, aliases={"yenile": "refill"})
        s.add(CommandOrder(workspace_id=workspace_id, command_id=command.id,
                           order_id="2274209", verdict="sent", reason="", detail="",
                           dispatch_id=dispatch.id))
        link_id = (await s.execute(select(LinkedChat.id).where(
            LinkedChat.chat_pk == customer.id))).scalar_one()
        support_id = (await s.execute(select(SupportChat.id).where(
            SupportChat.chat_pk == team.id))).scalar_one()
        return {"command_id": str(command.id), "dispatch_id": str(dispatch.id),
                "cooldown_id": str(cooldown.id), "log_id": str(ticket.id),
                "call_id": str(call.id), "run_id": str(run.id),
                "route_id": str(route.id), "link_id": str(link_id),
                "support_id": str(support_id), "service_id": "101", "word": "yenile"}

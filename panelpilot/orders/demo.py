"""Order support for ``panelpilot demo``: a workspace where ``2274209 refill`` works end to end.

The demo has already connected the workspace to a seeded Perfect Panel simulator and added its
channels; this links the demo customer to ``john_doe`` (who owns order 2274209), routes the
simulator's providers to the demo's provider group, and reads the service catalogue. Ticket
rules stay off unless asked for: the seeded panel has a ticket asking for the same refill
(``2274209 refill``), which would take the cooldown before the customer's chat message does.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from panelpilot.channels.models import ChannelAccount
from panelpilot.context import Context
from panelpilot.errors import NotFound
from panelpilot.orders import linking
from panelpilot.orders.models import ProviderRoute
from panelpilot.orders.rules import OrderRules, settings_row
from panelpilot.panels import service as panels

DEMO_USERNAME = "john_doe"  # owns 2274209 (completed, 30-day refill) in the seeded simulator
DEMO_ROUTES: list[dict[str, Any]] = [
    {"name": "smmprovider", "match": ["smmprovider.com"], "commands": {}},
    {"name": "fastsmm", "match": ["fastsmm.net"],
     "commands": {"speed": "{external_id} speedup", "refill": "/refill {external_id}"}},
    {"name": "perfectsmm", "match": ["Perfect Smm"], "commands": {}},
    # smmlite.ru deliberately has no route: its orders show the "route missing" answer.
]


async def seed_demo_workspace(
    ctx: Context, workspace_id: int, *, panel_url: str, provider_channel_id: int,
    provider_chat_id: str, customer_channel_id: int | None = None,
    customer_chat_id: str | None = None, username: str = DEMO_USERNAME, tickets: bool = False,
) -> dict[str, Any]:
    """Configure order support in the demo workspace; returns what it set up.

    ``panel_url`` is the simulator the workspace's panel connection points at (checked, so a
    demo wired to the wrong panel fails here rather than with puzzling answers).
    """
    from panelpilot.orders.services import refresh_services

    async with ctx.db.session(workspace_id) as session:
        conn = await panels.get_connection(session)
        if conn is None or conn.base_url.rstrip("/") != panel_url.rstrip("/"):
            raise NotFound(f"the demo workspace is not connected to the panel at {panel_url}")
        provider = await session.get(ChannelAccount, provider_channel_id)
        if provider is None:
            raise NotFound("no such provider channel in the demo workspace")
        group = await linking.chat_for(session, workspace_id, provider.id, provider.kind,
                                       provider_chat_id)
        group.role = "provider_group"
        existing = {r.name for r in (await session.execute(select(ProviderRoute))).scalars()}
        for route in DEMO_ROUTES:
            if route["name"] not in existing:
                session.add(ProviderRoute(
                    workspace_id=workspace_id, name=route["name"], match=route["match"],
                    channel_id=provider.id, chat_id=group.chat_id, commands=route["commands"],
                    bulk=True, source="demo"))
        linked = None
        if customer_channel_id is not None and customer_chat_id is not None:
            customer = await session.get(ChannelAccount, customer_channel_id)
            if customer is None:
                raise NotFound("no such customer channel in the demo workspace")
            chat = await linking.chat_for(session, workspace_id, customer.id, customer.kind,
                                          customer_chat_id)
            await linking.link(session, workspace_id, chat, username, source="demo",
                               by="panelpilot demo")
            linked = f"{customer.key}:{chat.chat_id}"
        row = await settings_row(session, workspace_id)
        rules = OrderRules.model_validate(row.rules or {})
        rules.tickets.enabled = tickets
        row.rules = rules.model_dump(exclude_defaults=True)
    catalogue = await refresh_services(ctx, workspace_id)
    return {"linked": linked, "username": username, "routes": [r["name"] for r in DEMO_ROUTES],
            "provider_group": provider_chat_id, "services": catalogue.get("services", 0),
            "tickets": tickets}

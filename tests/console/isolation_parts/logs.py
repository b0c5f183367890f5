"""Isolation-test additions for the order-log pages (commands, dispatches, cooldowns, panel
tickets, panel API): one of each in acme, and the cooldowns that "Clear" could remove."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.context import Context
from panelpilot.orders.models import OrderCooldown
from tests.console.orderlogdata import (
    add_call,
    add_command,
    add_cooldown,
    add_dispatch,
    add_ticket,
)
from tests.support import Tenants

BODIES: dict[str, dict[str, str]] = {
    "/w/{slug}/cooldowns/{cooldown_id}/clear": {"back": "/w/acme/cooldowns"},
}
OBJECT_PARAMS: tuple[str, ...] = ("{command_id}", "{dispatch_id}", "{cooldown_id}",
                                  "{ticket_entry_id}", "{panel_call_id}")


async def seed(ctx: Context, tenants: Tenants, ids: dict[str, str]) -> dict[str, str]:
    ws, channel_id = tenants.acme_id, int(ids["channel_id"])
    command = await add_command(ctx, ws, channel_id=channel_id,
                                event_id=int(ids["event_id"]))
    return {
        "command_id": str(command),
        "dispatch_id": str(await add_dispatch(ctx, ws, channel_id=channel_id,
                                              command_id=command,
                                              message_id=int(ids["message_id"]))),
        "cooldown_id": str(await add_cooldown(ctx, ws, command_id=command, hits=2)),
        "ticket_entry_id": str(await add_ticket(ctx, ws, command_id=command)),
        "panel_call_id": str(await add_call(ctx, ws, command_id=command)),
    }


async def snapshot(ctx: Context, session: AsyncSession) -> dict[str, Any]:
    rows = (await session.execute(select(OrderCooldown))).scalars()
    return {"cooldowns": sorted((c.id, c.order_id, c.action, c.until, c.hits) for c in rows)}

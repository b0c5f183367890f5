"""Isolation-test additions for Analytics and the master admin's default templates (see
``__init__``): acme gets a command log with an alert-worthy chat, the platform a default
template; the snapshot holds the platform's default wording, which only the platform owner's
valid forms may change."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.context import Context
from panelpilot.db.base import utcnow
from panelpilot.orders.models import CommandLog, CommandOrder
from panelpilot.templates import defaults
from panelpilot.templates.models import DefaultTemplate
from tests.support import Tenants

BODIES: dict[str, dict[str, str]] = {
    "/admin/templates/save": {"key": "help", "text": "Sneaky platform wording"},
    "/admin/templates/preview": {"key": "help", "text": "Sneaky platform wording"},
    "/admin/templates/reset": {"key": "help"},
}
OBJECT_PARAMS: tuple[str, ...] = ()


async def seed(ctx: Context, tenants: Tenants, ids: dict[str, str]) -> dict[str, str]:
    now = utcnow()
    async with ctx.db.session(tenants.acme_id) as s:
        for minutes in range(6):
            row = CommandLog(workspace_id=tenants.acme_id,
                             created_at=now - timedelta(minutes=minutes), source="chat",
                             channel_id=int(ids["channel_id"]), chat_id="5512345",
                             username="jane_buyer", text=f"{900000 + minutes} refill",
                             kind="order_action", action="refill", outcome="not_yours",
                             order_count=1, latency_ms=120)
            s.add(row)
            await s.flush()
            s.add(CommandOrder(workspace_id=tenants.acme_id, command_id=row.id,
                               order_id=str(900000 + minutes), verdict="not_yours"))
    async with ctx.db.platform_session() as s:
        await defaults.set_default(s, "help", "The platform's own help")
    return {}


async def snapshot(ctx: Context, session: AsyncSession) -> dict[str, Any]:
    rows = (await session.execute(select(DefaultTemplate.key, DefaultTemplate.text))).all()
    return {"default_templates": sorted((k, t) for k, t in rows)}

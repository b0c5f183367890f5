"""The service cache: each workspace's panel catalogue, refreshed by a runner, read by the checks.

Service names carry the start window and refill policy (``service_rules``); orders usually
bring their service's name along, and the cache covers panels whose orders do not and gives
admins the catalogue to write rules against.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from sqlalchemy import delete, or_, select

from panelpilot.context import Context
from panelpilot.db.base import utcnow
from panelpilot.orders.models import OrderSettings, ServiceCache
from panelpilot.orders.panel import open_panel, write_calls
from panelpilot.orders.rules import settings_row
from panelpilot.panels.base import PanelError
from panelpilot.panels.connection import PanelConnection
from panelpilot.runners.base import Runner

REFRESH_EVERY = timedelta(hours=6)


async def refresh_services(ctx: Context, workspace_id: int) -> dict[str, Any]:
    """Read the panel's catalogue into the cache; returns what happened."""
    panel = await open_panel(ctx, workspace_id, purpose="service cache")
    now = utcnow()
    if panel is None:
        return {"ok": False, "error": "no panel connection"}
    error = ""
    services = []
    try:
        services = await panel.list_services()
    except PanelError as exc:
        error = f"{exc.reason}: {exc.message}"
    async with ctx.db.session(workspace_id) as session:
        row = await settings_row(session, workspace_id)
        row.services_checked_at = now
        row.services_error = error[:1000]
        write_calls(session, workspace_id, panel.calls)
        if error:
            return {"ok": False, "error": error}
        cached = {c.service_id: c for c in (await session.execute(select(ServiceCache))).scalars()}
        seen = set()
        added = changed = 0
        for s in services:
            if s.id in seen:
                continue
            seen.add(s.id)
            values = {"name": s.name, "category": (s.category or "")[:300],
                      "type": (s.type or "")[:100], "refill_button": s.refill,
                      "cancel_button": s.cancel}
            existing = cached.get(s.id)
            if existing is None:
                session.add(ServiceCache(workspace_id=workspace_id, service_id=s.id[:64],
                                         refreshed_at=now, **values))
                added += 1
                continue
            if any(getattr(existing, k) != v for k, v in values.items()):
                changed += 1
                for k, v in values.items():
                    setattr(existing, k, v)
            existing.refreshed_at = now
        gone = [sid for sid in cached if sid not in seen]
        if gone:
            await session.execute(delete(ServiceCache).where(ServiceCache.service_id.in_(gone))
                                  .execution_options(synchronize_session=False))
        row.services_refreshed_at = now
    return {"ok": True, "services": len(seen), "added": added, "changed": changed,
            "removed": len(gone)}


async def due_workspaces(ctx: Context) -> list[int]:
    """Workspaces with a panel whose catalogue was not read (or tried) for a while."""
    stale = utcnow() - REFRESH_EVERY
    async with ctx.db.read_session() as session:
        rows = await session.execute(
            select(PanelConnection.workspace_id)
            .outerjoin(OrderSettings, OrderSettings.workspace_id == PanelConnection.workspace_id)
            .where(or_(OrderSettings.id.is_(None), OrderSettings.services_checked_at.is_(None),
                       OrderSettings.services_checked_at < stale))
            .order_by(PanelConnection.workspace_id))
        return [r for (r,) in rows.all()]


class ServiceCacheRunner(Runner):
    name = "orders-service-cache"
    interval = 300.0

    max_per_tick: ClassVar[int] = 20

    async def tick(self, ctx: Context) -> dict[str, Any] | None:
        done = failed = 0
        for workspace_id in (await due_workspaces(ctx))[:self.max_per_tick]:
            result = await refresh_services(ctx, workspace_id)
            done += 1
            failed += 0 if result.get("ok") else 1
        return {"refreshed": done, "failed": failed}

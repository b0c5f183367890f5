"""Rows for the order-log pages (commands, dispatches, cooldowns, panel tickets, panel calls),
made directly through the models; the pipeline that writes them in production is exercised by
``tests/console/test_logs_live.py`` and ``tests/orders``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from panelpilot.context import Context
from panelpilot.db.base import utcnow
from panelpilot.orders.models import (
    CommandLog,
    CommandOrder,
    Dispatch,
    OrderCooldown,
    PanelCall,
    PanelTicketLog,
)


async def add_command(ctx: Context, ws: int, *, text: str = "2274209 refill",
                      chat_id: str | None = "5512345", channel_id: int | None = None,
                      username: str | None = "john_doe", source: str = "chat",
                      kind: str = "order_action", action: str | None = "refill",
                      outcome: str = "sent", orders: tuple[tuple[str, str], ...] = (
                          ("2274209", "sent"),),
                      error_type: str | None = None, suggestion: str | None = None,
                      reply: str = "✅ 2274209: refill request sent.",
                      created_at: datetime | None = None, latency_ms: int = 120,
                      event_id: int | None = None, ticket_id: str | None = None,
                      detail: str = "") -> int:
    """A command with one item per (order id, verdict) in ``orders``."""
    async with ctx.db.session(ws) as s:
        row = CommandLog(workspace_id=ws, created_at=created_at or utcnow(), source=source,
                         channel_id=channel_id, chat_id=chat_id, username=username, text=text,
                         kind=kind, action=action, outcome=outcome, error_type=error_type,
                         suggestion=suggestion, order_count=len(orders), reply=reply,
                         detail=detail, latency_ms=latency_ms, event_id=event_id,
                         ticket_id=ticket_id)
        s.add(row)
        await s.flush()
        for order_id, verdict in orders:
            s.add(CommandOrder(
                workspace_id=ws, command_id=row.id, order_id=order_id, verdict=verdict,
                reason="" if verdict in ("sent", "status") else f"{verdict} reason",
                detail=f"admin detail of {order_id}", status="completed",
                provider="smmprovider.com", external_id=f"EXT-{order_id}"))
        return row.id


async def add_dispatch(ctx: Context, ws: int, *, channel_id: int, command_id: int | None,
                       order_ids: tuple[str, ...] = ("2274209",), route: str = "smmprovider",
                       provider: str = "smmprovider.com", action: str = "refill",
                       chat_id: str = "-1001987654321", message_id: int | None = None,
                       fallback: bool = False, created_at: datetime | None = None) -> int:
    async with ctx.db.session(ws) as s:
        row = Dispatch(workspace_id=ws, created_at=created_at or utcnow(),
                       command_id=command_id, route_name=route, provider=provider,
                       fallback=fallback, action=action, channel_id=channel_id,
                       chat_id=chat_id,
                       text=", ".join(f"EXT-{o}" for o in order_ids) + f" {action}",
                       order_ids="," + ",".join(order_ids) + ",",
                       external_ids=[f"EXT-{o}" for o in order_ids], message_id=message_id)
        s.add(row)
        await s.flush()
        return row.id


async def add_cooldown(ctx: Context, ws: int, *, order_id: str = "2274209",
                       action: str = "refill", minutes: int = 60,
                       command_id: int | None = None, requested_by: str = "john_doe",
                       hits: int = 0, created_at: datetime | None = None) -> int:
    """A cooldown that ends ``minutes`` from now (in the past when negative)."""
    now = utcnow()
    async with ctx.db.session(ws) as s:
        row = OrderCooldown(workspace_id=ws, order_id=order_id, action=action,
                            until=now + timedelta(minutes=minutes), command_id=command_id,
                            requested_by=requested_by, hits=hits,
                            created_at=created_at or now)
        s.add(row)
        await s.flush()
        return row.id


async def add_ticket(ctx: Context, ws: int, *, ticket_id: str = "501",
                     username: str = "john_doe", status: str = "replied",
                     action: str | None = "refill", order_ids: tuple[str, ...] = ("2274209",),
                     reply: str = "✅ 2274209: refill request sent.", error: str = "",
                     command_id: int | None = None, created_at: datetime | None = None,
                     attempts: int = 1) -> int:
    async with ctx.db.session(ws) as s:
        row = PanelTicketLog(workspace_id=ws, ticket_id=ticket_id, username=username,
                             subject="Order", message=f"Request: Refill\n{' '.join(order_ids)}",
                             action=action, order_ids=list(order_ids), status=status,
                             command_id=command_id, reply=reply, error=error,
                             attempts=attempts, created_at=created_at or utcnow(),
                             replied_at=utcnow() if status == "replied" else None)
        s.add(row)
        await s.flush()
        return row.id


async def add_call(ctx: Context, ws: int, *, operation: str = "get_orders",
                   purpose: str = "chat", ok: bool = True, reason: str = "", error: str = "",
                   status_code: int | None = None, detail: str = "1 id(s): 2274209",
                   command_id: int | None = None, created_at: datetime | None = None,
                   duration_ms: int = 85) -> int:
    async with ctx.db.session(ws) as s:
        row = PanelCall(workspace_id=ws, created_at=created_at or utcnow(),
                        operation=operation, purpose=purpose, detail=detail, ok=ok,
                        reason=reason, error=error, status_code=status_code,
                        duration_ms=duration_ms, command_id=command_id)
        s.add(row)
        await s.flush()
        return row.id


def ago(**kwargs: Any) -> datetime:
    return utcnow() - timedelta(**kwargs)

"""Health of the background machinery, for /readyz, the API and the console."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from panelpilot.channels.models import ChannelAccount
from panelpilot.context import Context
from panelpilot.inbox.models import EventStatus, InboundEvent
from panelpilot.outbox.models import OutboundMessage, SendStatus
from panelpilot.runners.lease import states


async def runner_rows(ctx: Context) -> list[dict[str, Any]]:
    return [
        {"name": r.name, "holder": r.holder,
         "lease_until": r.lease_until.isoformat() if r.lease_until else None,
         "last_run_at": r.last_run_at.isoformat() if r.last_run_at else None,
         "last_ok_at": r.last_ok_at.isoformat() if r.last_ok_at else None,
         "last_error": r.last_error or None,
         "last_error_at": r.last_error_at.isoformat() if r.last_error_at else None,
         "runs": r.runs, "info": r.info or {}}
        for r in await states(ctx.db)
    ]


async def backlog(ctx: Context) -> dict[str, int]:
    async with ctx.db.read_session() as session:
        inbox = (await session.execute(select(func.count()).select_from(InboundEvent).where(
            InboundEvent.status.in_((EventStatus.NEW, EventStatus.PROCESSING))))).scalar_one()
        queued = (await session.execute(select(func.count()).select_from(OutboundMessage).where(
            OutboundMessage.status.in_((SendStatus.QUEUED, SendStatus.SENDING))))).scalar_one()
        failed = (await session.execute(select(func.count()).select_from(OutboundMessage).where(
            OutboundMessage.status == SendStatus.FAILED))).scalar_one()
        channels = {status: count for status, count in (await session.execute(
            select(ChannelAccount.status, func.count()).group_by(ChannelAccount.status)
        )).all()}
    return {"inbox_pending": inbox, "outbox_pending": queued, "outbox_failed": failed,
            **{f"channels_{k}": v for k, v in channels.items()}}


async def readiness(ctx: Context) -> dict[str, Any]:
    """Always ok once it can be read: a runner's error is shown, not a reason to stop traffic."""
    return {"ok": True, "runners": await runner_rows(ctx), **await backlog(ctx)}

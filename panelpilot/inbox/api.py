"""JSON API for the message log: every inbound event and what became of it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy import select

from panelpilot.inbox.models import InboundEvent
from panelpilot.web.auth import Principal, context, principal, workspace_for
from panelpilot.web.paging import Before, Limit

router = APIRouter(prefix="/api/v1/workspaces/{slug}/messages", tags=["logs"])
Who = Annotated[Principal, Depends(principal)]


class EventOut(BaseModel):
    id: int
    channel_id: int
    kind: str
    status: str
    chat_id: str | None
    sender_id: str | None
    text: str | None
    outcome: str
    error: str
    attempts: int
    received_at: datetime
    processed_at: datetime | None


@router.get("", response_model=list[EventOut])
async def list_messages(request: Request, who: Who, slug: str, limit: Limit = 100,
                        before: Before = None, chat_id: str | None = None,
                        status: str | None = None, since: datetime | None = None,
                        ) -> list[EventOut]:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    query = select(InboundEvent).order_by(InboundEvent.id.desc()).limit(limit)
    if before:
        query = query.where(InboundEvent.id < before)
    if chat_id:
        query = query.where(InboundEvent.chat_id == chat_id)
    if status:
        query = query.where(InboundEvent.status == status)
    if since:
        query = query.where(InboundEvent.received_at >= since)
    async with ctx.db.session(ws.id) as session:
        rows = (await session.execute(query)).scalars()
        return [EventOut.model_validate(r, from_attributes=True) for r in rows]

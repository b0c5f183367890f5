"""JSON API for the outbox: the delivery log, each message's attempts, the failed list, retry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel
from sqlalchemy import select

from panelpilot.errors import Conflict, NotFound
from panelpilot.outbox.models import OutboundAttempt, OutboundMessage
from panelpilot.outbox.sender import retry_failed
from panelpilot.web.auth import Principal, context, principal, workspace_for
from panelpilot.web.paging import Before, Limit

router = APIRouter(prefix="/api/v1/workspaces/{slug}/outbox", tags=["logs"])
Who = Annotated[Principal, Depends(principal)]


class AttemptOut(BaseModel):
    number: int
    started_at: datetime
    duration_ms: int
    ok: bool
    reason: str
    detail: str


class MessageOut(BaseModel):
    id: int
    channel_id: int
    chat_id: str
    kind: str
    purpose: str
    text: str
    status: str
    attempts: int
    error_reason: str
    last_error: str
    external_id: str | None
    delivery_status: str | None
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime


class MessageDetail(MessageOut):
    attempt_log: list[AttemptOut]


@router.get("", response_model=list[MessageOut])
async def list_outbox(request: Request, who: Who, slug: str, limit: Limit = 100,
                      before: Before = None, status: str | None = None,
                      chat_id: str | None = None) -> list[MessageOut]:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    query = select(OutboundMessage).order_by(OutboundMessage.id.desc()).limit(limit)
    if before:
        query = query.where(OutboundMessage.id < before)
    if status:
        query = query.where(OutboundMessage.status == status)
    if chat_id:
        query = query.where(OutboundMessage.chat_id == chat_id)
    async with ctx.db.session(ws.id) as session:
        return [MessageOut.model_validate(r, from_attributes=True)
                for r in (await session.execute(query)).scalars()]


@router.get("/{message_id}", response_model=MessageDetail)
async def get_message(request: Request, who: Who, slug: str, message_id: int) -> MessageDetail:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.session(ws.id) as session:
        row = (await session.execute(
            select(OutboundMessage).where(OutboundMessage.id == message_id))).scalar()
        if row is None:
            raise NotFound("no such message")
        attempts = (await session.execute(
            select(OutboundAttempt).where(OutboundAttempt.message_id == message_id)
            .order_by(OutboundAttempt.id))).scalars()
        out = MessageOut.model_validate(row, from_attributes=True)
        return MessageDetail(**out.model_dump(), attempt_log=[
            AttemptOut.model_validate(a, from_attributes=True) for a in attempts])


@router.post("/{message_id}/retry", response_model=MessageOut)
async def retry(request: Request, who: Who, slug: str, message_id: int) -> MessageOut:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    if not await retry_failed(ctx, ws.id, message_id):
        async with ctx.db.session(ws.id) as session:
            exists = (await session.execute(
                select(OutboundMessage.id).where(OutboundMessage.id == message_id))).first()
        if exists is None:
            raise NotFound("no such message")
        raise Conflict("only failed messages can be retried")
    from panelpilot.outbox.enqueue import wake_senders

    wake_senders(ctx)
    async with ctx.db.session(ws.id) as session:
        row = (await session.execute(
            select(OutboundMessage).where(OutboundMessage.id == message_id))).scalar_one()
        return MessageOut.model_validate(row, from_attributes=True)

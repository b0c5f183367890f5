"""JSON API for the chats a workspace's channels have seen, and their roles."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select

from panelpilot.chats.models import Chat
from panelpilot.chats.service import check_role
from panelpilot.errors import NotFound
from panelpilot.web.auth import Principal, context, principal, workspace_for
from panelpilot.web.paging import Before, Limit

router = APIRouter(prefix="/api/v1/workspaces/{slug}/chats", tags=["chats"])
Who = Annotated[Principal, Depends(principal)]


class ChatOut(BaseModel):
    id: int
    channel_id: int
    chat_id: str
    chat_type: str
    role: str
    title: str
    reachable: bool
    unreachable_reason: str
    last_inbound_at: datetime | None

    @classmethod
    def of(cls, c: Chat) -> ChatOut:
        return cls(id=c.id, channel_id=c.channel_id, chat_id=c.chat_id, chat_type=c.chat_type,
                   role=c.role, title=c.title, reachable=c.reachable,
                   unreachable_reason=c.unreachable_reason, last_inbound_at=c.last_inbound_at)


class ChatPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str


@router.get("", response_model=list[ChatOut])
async def list_chats(request: Request, who: Who, slug: str, limit: Limit = 100,
                     before: Before = None, role: str | None = None) -> list[ChatOut]:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    query = select(Chat).order_by(Chat.id.desc()).limit(limit)
    if before:
        query = query.where(Chat.id < before)
    if role:
        query = query.where(Chat.role == check_role(role))
    async with ctx.db.session(ws.id) as session:
        return [ChatOut.of(c) for c in (await session.execute(query)).scalars()]


@router.patch("/{chat_pk}", response_model=ChatOut)
async def patch_chat(request: Request, who: Who, slug: str, chat_pk: int,
                     body: ChatPatch) -> ChatOut:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    role = check_role(body.role)
    async with ctx.db.session(ws.id) as session:
        chat = (await session.execute(select(Chat).where(Chat.id == chat_pk))).scalar()
        if chat is None:
            raise NotFound("no such chat")
        chat.role = role
        return ChatOut.of(chat)

"""JSON API for a workspace's channel accounts."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from panelpilot.channels import service
from panelpilot.web.auth import Principal, context, principal, workspace_for

router = APIRouter(prefix="/api/v1/workspaces/{slug}/channels", tags=["channels"])
Who = Annotated[Principal, Depends(principal)]


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["telegram", "greenapi", "meta"]
    mode: Literal["webhook", "polling"] = "webhook"
    enabled: bool = True
    token: str | None = Field(default=None, max_length=500, description="Telegram bot token")
    id_instance: str | None = Field(default=None, max_length=64)
    api_token: str | None = Field(default=None, max_length=500)
    api_url: str | None = Field(default=None, max_length=300)
    phone_number_id: str | None = Field(default=None, max_length=64)
    access_token: str | None = Field(default=None, max_length=1000)
    app_secret: str | None = Field(default=None, max_length=500)
    verify_token: str | None = Field(default=None, max_length=500)


class ChannelOut(BaseModel):
    key: str
    type: str
    mode: str
    status: str
    status_detail: str
    webhook_url: str
    config: dict[str, Any]
    token: str | None
    last_update_at: str | None
    webhook_set_at: str | None


@router.get("", response_model=list[ChannelOut])
async def list_channels(request: Request, who: Who, slug: str) -> list[ChannelOut]:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.session(ws.id) as session:
        return [ChannelOut(**asdict(service.view(ctx, ch)))
                for ch in await service.list_channels(session)]


@router.get("/{key}", response_model=ChannelOut)
async def get_channel(request: Request, who: Who, slug: str, key: str) -> ChannelOut:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.session(ws.id) as session:
        return ChannelOut(**asdict(service.view(ctx, await service.get_channel(session, key))))


@router.put("/{key}", response_model=ChannelOut)
async def put_channel(request: Request, who: Who, slug: str, key: str,
                      body: ChannelIn) -> ChannelOut:
    """Create or update a channel, then connect it (setWebhook / setSettings) for real."""
    from panelpilot.tenancy.service import SLUG_RE

    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    if not SLUG_RE.match(key):
        from panelpilot.errors import Invalid

        raise Invalid("a channel key is lower-case letters, digits and dashes", field="key")
    fields = body.model_dump(exclude={"type", "mode", "enabled"}, exclude_none=True)
    async with ctx.db.session(ws.id) as session:
        ch, changed = await service.set_channel(session, ctx.keyring, ws.id, key=key,
                                                kind=body.type, mode=body.mode, fields=fields,
                                                enabled=body.enabled)
        channel_id = ch.id
    service.forget(ctx)
    if changed:
        await service.connect(ctx, channel_id)
    async with ctx.db.session(ws.id) as session:
        return ChannelOut(**asdict(service.view(ctx, await service.get_channel(session, key))))


@router.post("/{key}/connect", response_model=ChannelOut)
async def connect_channel(request: Request, who: Who, slug: str, key: str) -> ChannelOut:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        channel_id = (await service.get_channel(session, key)).id
    await service.connect(ctx, channel_id)
    async with ctx.db.session(ws.id) as session:
        return ChannelOut(**asdict(service.view(ctx, await service.get_channel(session, key))))


@router.delete("/{key}", status_code=204)
async def delete_channel(request: Request, who: Who, slug: str, key: str) -> Response:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        creds = await service.delete_channel(session, ctx.keyring,
                                             await service.get_channel(session, key))
    service.forget(ctx)
    await service.disconnect(ctx, creds)
    return Response(status_code=204)

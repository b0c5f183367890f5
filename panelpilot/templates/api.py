"""JSON API for customer templates: the defaults, the workspace's wording, and changes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from panelpilot.templates import service
from panelpilot.web.auth import Principal, context, principal, workspace_for

router = APIRouter(prefix="/api/v1/workspaces/{slug}/templates", tags=["templates"])
Who = Annotated[Principal, Depends(principal)]


class TemplateOut(BaseModel):
    key: str
    text: str
    default: str
    customized: bool


class TemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=service.MAX_LENGTH)


@router.get("", response_model=list[TemplateOut])
async def list_templates(request: Request, who: Who, slug: str) -> list[TemplateOut]:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.session(ws.id) as session:
        own = await service.overrides(session)
    return [TemplateOut(key=k, text=own.get(k, d), default=d, customized=k in own)
            for k, d in sorted(service.DEFAULTS.items())]


@router.put("/{template_key}", response_model=TemplateOut)
async def put_template(request: Request, who: Who, slug: str, template_key: str,
                       body: TemplateIn) -> TemplateOut:
    key = template_key
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        await service.set_template(session, ws.id, key, body.text)
    return TemplateOut(key=key, text=body.text, default=service.DEFAULTS[key], customized=True)


@router.delete("/{template_key}", status_code=204)
async def reset_template(request: Request, who: Who, slug: str,
                         template_key: str) -> Response:
    key = template_key
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        await service.reset_template(session, key)
    return Response(status_code=204)

"""JSON API of the platform (platform owner only): the background health (runners, backlogs,
channel states) and the default templates that new workspaces start with."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from panelpilot.runners.health import backlog, runner_rows
from panelpilot.templates import defaults
from panelpilot.templates.service import MAX_LENGTH
from panelpilot.web.auth import Principal, context, principal, require_platform

router = APIRouter(prefix="/api/v1/platform", tags=["platform"])
Who = Annotated[Principal, Depends(principal)]


@router.get("/health")
async def health(request: Request, who: Who) -> dict[str, Any]:
    require_platform(who)
    ctx = context(request)
    return {"runners": await runner_rows(ctx), "backlog": await backlog(ctx)}


# --- default templates for new workspaces ------------------------------------------------------


class DefaultTemplateOut(BaseModel):
    key: str
    text: str = Field(description="What a workspace created from now on starts with.")
    builtin: str = Field(description="The wording that comes with panelpilot.")
    customized: bool = Field(description="Whether the platform has its own wording.")
    updated_at: datetime | None


class DefaultTemplateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=MAX_LENGTH)


@router.get("/default-templates", response_model=list[DefaultTemplateOut])
async def list_default_templates(request: Request, who: Who) -> list[DefaultTemplateOut]:
    """Every template key with its built-in wording and the platform's own. Workspaces that
    exist already are not affected by these: they keep their own templates."""
    require_platform(who)
    async with context(request).db.platform_session() as session:
        rows = await defaults.rows(session)
    return [DefaultTemplateOut.model_validate(r, from_attributes=True) for r in rows]


@router.get("/default-templates/{template_key}", response_model=DefaultTemplateOut)
async def get_default_template(request: Request, who: Who,
                               template_key: str) -> DefaultTemplateOut:
    require_platform(who)
    async with context(request).db.platform_session() as session:
        row = await defaults.row(session, template_key)
    return DefaultTemplateOut.model_validate(row, from_attributes=True)


@router.put("/default-templates/{template_key}", response_model=DefaultTemplateOut)
async def put_default_template(request: Request, who: Who, template_key: str,
                               body: DefaultTemplateIn) -> DefaultTemplateOut:
    """Set the wording new workspaces get (the built-in text, word for word, resets it)."""
    require_platform(who)
    async with context(request).db.platform_session() as session:
        await defaults.set_default(session, template_key, body.text)
        await session.flush()
        row = await defaults.row(session, template_key)
    return DefaultTemplateOut.model_validate(row, from_attributes=True)


@router.delete("/default-templates/{template_key}", status_code=204)
async def reset_default_template(request: Request, who: Who, template_key: str) -> Response:
    """New workspaces get the built-in wording of this template again."""
    require_platform(who)
    async with context(request).db.platform_session() as session:
        await defaults.reset_default(session, template_key)
    return Response(status_code=204)

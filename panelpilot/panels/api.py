"""JSON API for a workspace's panel connection (``/api/v1/workspaces/{slug}/panel``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from panelpilot.panels import service
from panelpilot.web.auth import Principal, context, principal, workspace_for
from panelpilot.web.errors import ApiError

router = APIRouter(prefix="/api/v1/workspaces/{slug}/panel", tags=["panel"])
Who = Annotated[Principal, Depends(principal)]


class PanelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["perfectpanel", "rental"]
    url: str = Field(max_length=500)
    api_key: str | None = Field(default=None, max_length=500,
                                description="Write-only. Leave out to keep the stored key.")
    user_api_key: str | None = Field(default=None, max_length=500,
                                     description="Write-only. The panel's user API v2 key.")


class PanelOut(BaseModel):
    type: str
    url: str
    api_key: str | None = Field(description="Masked: the last characters only.")
    user_api_key: str | None
    last_test_at: str | None
    last_test_ok: bool | None
    last_test_report: dict[str, Any]


@router.get("", response_model=PanelOut)
async def get_panel(request: Request, who: Who, slug: str) -> PanelOut:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.session(ws.id) as session:
        conn = await service.get_connection(session)
        if conn is None:
            raise ApiError(404, "this workspace has no panel connection yet")
        return PanelOut(**asdict(service.view(conn)))


@router.put("", response_model=PanelOut)
async def put_panel(request: Request, who: Who, slug: str, body: PanelIn) -> PanelOut:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        conn, _ = await service.set_connection(
            session, ctx.keyring, ws.id, panel_type=body.type, url=body.url,
            api_key=body.api_key, user_api_key=body.user_api_key,
        )
        return PanelOut(**asdict(service.view(conn)))


@router.delete("", status_code=204)
async def delete_panel(request: Request, who: Who, slug: str) -> Response:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        if not await service.delete_connection(session):
            raise ApiError(404, "this workspace has no panel connection yet")
    return Response(status_code=204)


@router.post("/test")
async def test_panel(request: Request, who: Who, slug: str) -> dict[str, Any]:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    return await service.test_connection(ctx.db, ctx.keyring, ctx.http, ws.id)

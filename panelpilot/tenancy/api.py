"""JSON API for workspaces, members and tokens (``/api/v1``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from panelpilot.tenancy import service
from panelpilot.tenancy.models import ApiToken, Membership, Workspace
from panelpilot.web.auth import Principal, context, principal, require_platform, workspace_for

router = APIRouter(prefix="/api/v1", tags=["workspaces"])
Who = Annotated[Principal, Depends(principal)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class WorkspaceOut(BaseModel):
    slug: str
    name: str
    status: str
    plan: str | None
    created_at: datetime

    @classmethod
    def of(cls, ws: Workspace) -> WorkspaceOut:
        return cls(slug=ws.slug, name=ws.name, status=ws.status, plan=ws.plan,
                   created_at=ws.created_at)


class WorkspaceIn(Strict):
    slug: str = Field(max_length=63)
    name: str = Field(max_length=200)
    plan: str | None = Field(default=None, max_length=63)


class WorkspacePatch(Strict):
    name: str | None = Field(default=None, max_length=200)
    status: Literal["active", "suspended"] | None = None
    plan: str | None = Field(default=None, max_length=63)


class MemberOut(BaseModel):
    id: int
    email: str
    name: str
    role: str
    created_at: datetime

    @classmethod
    def of(cls, m: Membership) -> MemberOut:
        return cls(id=m.id, email=m.user.email, name=m.user.name, role=m.role,
                   created_at=m.created_at)


class MemberIn(Strict):
    email: str = Field(max_length=254)
    role: Literal["owner", "agent"]
    name: str = Field(default="", max_length=200)
    password: str | None = Field(default=None, max_length=200)


class MemberPatch(Strict):
    role: Literal["owner", "agent"]


class TokenOut(BaseModel):
    id: int
    name: str
    role: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, t: ApiToken) -> TokenOut:
        return cls(id=t.id, name=t.name, role=t.role, prefix=f"pp_{t.prefix}_…",
                   created_at=t.created_at, last_used_at=t.last_used_at,
                   expires_at=t.expires_at, revoked_at=t.revoked_at)


class TokenIn(Strict):
    name: str = Field(max_length=100)
    role: Literal["owner", "agent"] = "agent"
    expires_at: datetime | None = None


class TokenCreated(TokenOut):
    token: str = Field(description="The token itself. It is shown only this once.")


class MeOut(BaseModel):
    token: str
    role: str
    workspace: str | None


@router.get("/me", response_model=MeOut)
async def me(request: Request, who: Who) -> MeOut:
    slug = None
    if who.workspace_id is not None:
        async with context(request).db.session(who.workspace_id) as session:
            ws = (await session.execute(select(Workspace))).scalar_one()
            slug = ws.slug
    return MeOut(token=who.name, role=who.role, workspace=slug)


@router.get("/workspaces", response_model=list[WorkspaceOut])
async def list_workspaces(request: Request, who: Who) -> list[WorkspaceOut]:
    ctx = context(request)
    if who.is_platform:
        async with ctx.db.platform_session() as session:
            rows = (await session.execute(select(Workspace).order_by(Workspace.slug))).scalars()
            return [WorkspaceOut.of(ws) for ws in rows]
    assert who.workspace_id is not None
    async with ctx.db.session(who.workspace_id) as session:
        return [WorkspaceOut.of(ws) for ws in (await session.execute(select(Workspace))).scalars()]


@router.post("/workspaces", response_model=WorkspaceOut, status_code=201)
async def create_workspace(request: Request, who: Who, body: WorkspaceIn) -> WorkspaceOut:
    require_platform(who)
    async with context(request).db.platform_session() as session:
        ws = await service.create_workspace(session, slug=body.slug, name=body.name,
                                            plan=body.plan)
        return WorkspaceOut.of(ws)


@router.get("/workspaces/{slug}", response_model=WorkspaceOut)
async def get_workspace(request: Request, who: Who, slug: str) -> WorkspaceOut:
    return WorkspaceOut.of(await workspace_for(context(request), who, slug))


@router.patch("/workspaces/{slug}", response_model=WorkspaceOut)
async def patch_workspace(
    request: Request, who: Who, slug: str, body: WorkspacePatch
) -> WorkspaceOut:
    ctx = context(request)
    platform_fields = body.status is not None or "plan" in body.model_fields_set
    ws = await workspace_for(ctx, who, slug, write=True, platform_only=platform_fields)
    async with ctx.db.session(ws.id) as session:
        row = (await session.execute(select(Workspace))).scalar_one()
        service.update_workspace(row, name=body.name, status=body.status, plan=body.plan,
                                 clear_plan="plan" in body.model_fields_set and body.plan is None)
        return WorkspaceOut.of(row)


@router.delete("/workspaces/{slug}", status_code=204)
async def delete_workspace(request: Request, who: Who, slug: str) -> Response:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True, platform_only=True)
    async with ctx.db.platform_session() as session:
        row = await session.get(Workspace, ws.id)
        if row is not None:
            await session.delete(row)
    return Response(status_code=204)


@router.get("/workspaces/{slug}/members", response_model=list[MemberOut])
async def list_members(request: Request, who: Who, slug: str) -> list[MemberOut]:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.session(ws.id) as session:
        return [MemberOut.of(m) for m in await service.list_members(session)]


@router.post("/workspaces/{slug}/members", response_model=MemberOut, status_code=201)
async def add_member(request: Request, who: Who, slug: str, body: MemberIn) -> MemberOut:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        member = await service.add_member(session, ws.id, email=body.email, role=body.role,
                                          password=body.password, name=body.name)
        return MemberOut.of(member)


@router.patch("/workspaces/{slug}/members/{member_id}", response_model=MemberOut)
async def patch_member(
    request: Request, who: Who, slug: str, member_id: int, body: MemberPatch
) -> MemberOut:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        return MemberOut.of(await service.change_member_role(session, member_id, body.role))


@router.delete("/workspaces/{slug}/members/{member_id}", status_code=204)
async def remove_member(request: Request, who: Who, slug: str, member_id: int) -> Response:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        await service.remove_member(session, member_id)
    return Response(status_code=204)


@router.get("/workspaces/{slug}/tokens", response_model=list[TokenOut])
async def list_tokens(request: Request, who: Who, slug: str) -> list[TokenOut]:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        return [TokenOut.of(t) for t in await service.list_tokens(session)]


@router.post("/workspaces/{slug}/tokens", response_model=TokenCreated, status_code=201)
async def create_token(request: Request, who: Who, slug: str, body: TokenIn) -> TokenCreated:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        issued = await service.create_token(session, ws.id, name=body.name, role=body.role,
                                            expires_at=body.expires_at)
        out = TokenOut.of(issued.token)
        return TokenCreated(**out.model_dump(), token=issued.plaintext)


@router.delete("/workspaces/{slug}/tokens/{token_id}", status_code=204)
async def revoke_token(request: Request, who: Who, slug: str, token_id: int) -> Response:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        await service.revoke_token(session, token_id)
    return Response(status_code=204)

"""Bearer-token authentication for the JSON API and the workspace access rule.

An outsider gets 404 for anything of another workspace (not 403), so ids and slugs of other
tenants cannot be probed.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from panelpilot.context import Context
from panelpilot.tenancy.models import Role, Workspace, WorkspaceStatus
from panelpilot.tenancy.service import workspace_by_slug
from panelpilot.tenancy.tokens import authenticate
from panelpilot.web.errors import ApiError


@dataclass(frozen=True)
class Principal:
    token_id: int
    name: str
    role: Role
    workspace_id: int | None

    @property
    def is_platform(self) -> bool:
        return self.role == Role.PLATFORM_OWNER


def context(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


async def principal(request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, "a bearer token is required")
    ctx = context(request)
    async with ctx.db.platform_session() as session:
        token = await authenticate(session, value.strip())
        if token is None:
            raise ApiError(401, "the token is not valid or was revoked")
        return Principal(token.id, token.name, Role(token.role), token.workspace_id)


async def workspace_for(
    ctx: Context, who: Principal, slug: str, *, write: bool = False, platform_only: bool = False
) -> Workspace:
    """The workspace ``slug`` if ``who`` may see it (and change it, with ``write``)."""
    async with ctx.db.platform_session() as session:
        ws = await workspace_by_slug(session, slug)
    if ws is None or (not who.is_platform and ws.id != who.workspace_id):
        raise ApiError(404, "no such workspace")
    if platform_only and not who.is_platform:
        raise ApiError(403, "only the platform owner can do this")
    if write and not who.is_platform:
        if who.role != Role.OWNER:
            raise ApiError(403, "agents have read-only access")
        if ws.status == WorkspaceStatus.SUSPENDED:
            raise ApiError(403, "this workspace is suspended")
    return ws


def require_platform(who: Principal) -> None:
    if not who.is_platform:
        raise ApiError(403, "only the platform owner can do this")

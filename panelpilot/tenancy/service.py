"""Workspaces, members and tokens: the operations every interface calls."""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.db.base import utcnow
from panelpilot.errors import Conflict, Invalid, NotFound
from panelpilot.templates.defaults import copy_into
from panelpilot.tenancy.models import ApiToken, Membership, Role, User, Workspace, WorkspaceStatus
from panelpilot.tenancy.passwords import check_password_strength, hash_password
from panelpilot.tenancy.tokens import IssuedToken, issue_token

SLUG_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
EMAIL_RE = re.compile(r"^[^\s@]+@[^\s@]+\.[^\s@]+$")


def check_slug(slug: str) -> str:
    if not SLUG_RE.match(slug):
        raise Invalid(
            "a slug is 1-63 lower-case letters, digits and dashes, not starting or ending "
            "with a dash", field="slug")
    return slug


def check_email(email: str) -> str:
    email = email.strip().lower()
    if not EMAIL_RE.match(email) or len(email) > 254:
        raise Invalid("not a valid email address", field="email")
    return email


async def workspace_by_slug(session: AsyncSession, slug: str) -> Workspace | None:
    return (await session.execute(select(Workspace).where(Workspace.slug == slug))).scalar()


async def create_workspace(
    session: AsyncSession, *, slug: str, name: str, plan: str | None = None
) -> Workspace:
    check_slug(slug)
    if not name.strip():
        raise Invalid("the name is empty", field="name")
    if await workspace_by_slug(session, slug) is not None:
        raise Conflict(f"a workspace with slug {slug!r} exists already", field="slug")
    ws = Workspace(slug=slug, name=name.strip(), plan=plan, status=WorkspaceStatus.ACTIVE,
                   settings={})
    session.add(ws)
    await session.flush()
    # A new workspace starts with the platform owner's default wording as its own templates.
    await copy_into(session, ws.id)
    return ws


def update_workspace(
    ws: Workspace, *, name: str | None = None, status: str | None = None,
    plan: str | None = None, clear_plan: bool = False,
) -> None:
    if name is not None:
        if not name.strip():
            raise Invalid("the name is empty", field="name")
        ws.name = name.strip()
    if status is not None:
        if status not in {s.value for s in WorkspaceStatus}:
            raise Invalid("status is active or suspended", field="status")
        ws.status = status
    if plan is not None or clear_plan:
        ws.plan = plan


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return (
        await session.execute(select(User).where(User.email == email.strip().lower()))
    ).scalar()


async def create_user(
    session: AsyncSession, *, email: str, password: str, name: str = "",
    platform_owner: bool = False,
) -> User:
    email = check_email(email)
    if await user_by_email(session, email) is not None:
        raise Conflict(f"a user with email {email} exists already", field="email")
    weak = check_password_strength(password)
    if weak:
        raise Invalid(weak, field="password")
    user = User(email=email, name=name, password_hash=hash_password(password),
                is_platform_owner=platform_owner, is_active=True)
    session.add(user)
    await session.flush()
    return user


async def list_members(session: AsyncSession) -> list[Membership]:
    rows = await session.execute(select(Membership).order_by(Membership.id))
    return list(rows.scalars().all())


async def get_member(session: AsyncSession, member_id: int) -> Membership:
    member = (
        await session.execute(select(Membership).where(Membership.id == member_id))
    ).scalar()
    if member is None:
        raise NotFound("no such member")
    return member


def check_member_role(role: str) -> Role:
    if role not in (Role.OWNER, Role.AGENT):
        raise Invalid("a member's role is owner or agent", field="role")
    return Role(role)


async def add_member(
    session: AsyncSession, workspace_id: int, *, email: str, role: str,
    password: str | None = None, name: str = "",
) -> Membership:
    """Add a person by email; a new person needs a first password."""
    check_member_role(role)
    user = await user_by_email(session, check_email(email))
    if user is None:
        if not password:
            raise Invalid("this person has no account yet: give a first password",
                          field="password")
        user = await create_user(session, email=email, password=password, name=name)
    existing = (
        await session.execute(select(Membership).where(Membership.user_id == user.id))
    ).scalar()
    if existing is not None:
        raise Conflict("this person is a member already", field="email")
    member = Membership(workspace_id=workspace_id, user_id=user.id, role=role, user=user)
    session.add(member)
    await session.flush()
    return member


async def _owner_count(session: AsyncSession) -> int:
    return (
        await session.execute(
            select(func.count()).select_from(Membership).where(Membership.role == Role.OWNER)
        )
    ).scalar_one()


async def change_member_role(session: AsyncSession, member_id: int, role: str) -> Membership:
    check_member_role(role)
    member = await get_member(session, member_id)
    if member.role == Role.OWNER and role != Role.OWNER and await _owner_count(session) <= 1:
        raise Conflict("a workspace keeps at least one owner")
    member.role = role
    return member


async def remove_member(session: AsyncSession, member_id: int) -> None:
    member = await get_member(session, member_id)
    if member.role == Role.OWNER and await _owner_count(session) <= 1:
        raise Conflict("a workspace keeps at least one owner")
    await session.delete(member)


async def list_tokens(session: AsyncSession) -> list[ApiToken]:
    rows = await session.execute(select(ApiToken).order_by(ApiToken.id))
    return list(rows.scalars().all())


async def create_token(
    session: AsyncSession, workspace_id: int | None, *, name: str, role: str,
    created_by: int | None = None, expires_at: datetime | None = None,
) -> IssuedToken:
    if not name.strip():
        raise Invalid("the token needs a name", field="name")
    token_role = Role.PLATFORM_OWNER if workspace_id is None else check_member_role(role)
    return await issue_token(session, name=name.strip()[:100], role=token_role,
                             workspace_id=workspace_id, created_by=created_by,
                             expires_at=expires_at)


async def revoke_token(session: AsyncSession, token_id: int) -> ApiToken:
    token = (await session.execute(select(ApiToken).where(ApiToken.id == token_id))).scalar()
    if token is None:
        raise NotFound("no such token")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return token

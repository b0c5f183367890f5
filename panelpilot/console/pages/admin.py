"""The master admin (platform owner only): every workspace with its status, plan and health;
create, rename, re-plan, suspend and resume workspaces; every user of the platform.

Other platform pages (runners, default templates…) register in ``panelpilot.console.nav``
with ``add_admin_page`` and use ``open_admin`` like these.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

from fastapi import Request
from sqlalchemy import func, select
from starlette.responses import Response

from panelpilot.channels.models import ChannelAccount, ChannelStatus
from panelpilot.console.access import AdminPage, ConsoleError, open_admin, sentence
from panelpilot.console.routing import console_router, redirect, render
from panelpilot.errors import DomainError, Invalid
from panelpilot.panels.connection import PanelConnection
from panelpilot.tenancy import service
from panelpilot.tenancy.models import Membership, User, Workspace, WorkspaceStatus
from panelpilot.tenancy.passwords import check_password_strength

router = console_router()


@dataclass
class WorkspaceRow:
    ws: Workspace
    members: int = 0
    channels: Counter[str] = field(default_factory=Counter)
    panel: str = "none"  # none, untested, ok, failing

    @property
    def health(self) -> tuple[str, str]:
        """(level, sentence) for the health column: ok, warn or bad."""
        problems = self.channels[ChannelStatus.PROBLEM] + self.channels[
            ChannelStatus.DISCONNECTED]
        if self.panel == "failing" or problems:
            parts = []
            if self.panel == "failing":
                parts.append("panel test failing")
            if problems:
                parts.append(f"{problems} channel{'s' if problems != 1 else ''} with problems")
            return "bad", ", ".join(parts)
        if self.panel in ("none", "untested") or not self.channels[ChannelStatus.ACTIVE]:
            missing = []
            if self.panel == "none":
                missing.append("no panel")
            elif self.panel == "untested":
                missing.append("panel not tested")
            if not self.channels[ChannelStatus.ACTIVE]:
                missing.append("no active channel")
            return "warn", ", ".join(missing)
        return "ok", "panel and channels working"


async def _rows(page: AdminPage, only: int | None = None) -> list[WorkspaceRow]:
    async with page.console.ctx.db.read_session() as db:
        query = select(Workspace).order_by(Workspace.name)
        if only is not None:
            query = query.where(Workspace.id == only)
        rows = {ws.id: WorkspaceRow(ws) for ws in (await db.execute(query)).scalars()}
        members = await db.execute(select(Membership.workspace_id, func.count())
                                   .group_by(Membership.workspace_id))
        for ws_id, count in members.all():
            if ws_id in rows:
                rows[ws_id].members = count
        channels = await db.execute(
            select(ChannelAccount.workspace_id, ChannelAccount.status, func.count())
            .group_by(ChannelAccount.workspace_id, ChannelAccount.status))
        for ws_id, status, count in channels.all():
            if ws_id in rows:
                rows[ws_id].channels[status] += count
        panels = await db.execute(select(PanelConnection.workspace_id,
                                         PanelConnection.last_test_ok))
        for ws_id, ok in panels.all():
            if ws_id in rows:
                rows[ws_id].panel = "untested" if ok is None else "ok" if ok else "failing"
    return list(rows.values())


async def _workspaces(request: Request, page: AdminPage, *, status: int = 200,
                      errors: dict[str, str] | None = None,
                      values: dict[str, str] | None = None) -> Response:
    return await render(request, "admin/workspaces.html", status=status, page=page,
                        active="workspaces", title="Workspaces", rows=await _rows(page),
                        errors=errors or {}, values=values or {})


@router.get("/admin")
async def workspaces(request: Request) -> Response:
    return await _workspaces(request, await open_admin(request))


@router.post("/admin/workspaces")
async def create_workspace(request: Request) -> Response:
    page = await open_admin(request)
    values = {k: page.value(k) for k in ("slug", "name", "plan", "owner_email", "owner_name")}
    values["slug"] = values["slug"].lower()
    password = page.value("owner_password")
    errors: dict[str, str] = {}
    ctx = page.console.ctx
    # The first owner is checked before the workspace exists, so a bad owner never leaves an
    # ownerless workspace behind (the two are written in two transactions).
    if values["owner_email"]:
        try:
            email = service.check_email(values["owner_email"])
            async with ctx.db.read_session() as db:
                known = await service.user_by_email(db, email) is not None
            if not known:
                weak = check_password_strength(password) if password else (
                    "this person has no account yet: give a first password")
                if weak:
                    raise Invalid(weak, field="owner_password")
        except Invalid as exc:
            errors["owner_password" if exc.field == "owner_password" else "owner_email"] = \
                sentence(exc.message)
    ws_id = None
    if not errors:
        try:
            async with ctx.db.platform_session() as db:
                ws = await service.create_workspace(db, slug=values["slug"], name=values["name"],
                                                    plan=values["plan"] or None)
                ws_id = ws.id
        except DomainError as exc:
            errors[exc.field if exc.field in values else "form"] = sentence(exc.message)
    if errors or ws_id is None:
        return await _workspaces(request, page, status=422, errors=errors, values=values)
    if values["owner_email"]:
        async with ctx.db.session(ws_id) as session:
            await service.add_member(session, ws_id, email=values["owner_email"], role="owner",
                                     password=password or None, name=values["owner_name"])
        page.flash("success", f"Workspace {values['slug']} was created with "
                              f"{values['owner_email']} as its owner.")
    else:
        page.flash("success", f"Workspace {values['slug']} was created. Add its first owner "
                              "on its members page.")
    return redirect(f"/admin/workspaces/{values['slug']}")


async def _workspace(page: AdminPage, slug: str) -> Workspace:
    async with page.console.ctx.db.read_session() as db:
        ws = await service.workspace_by_slug(db, slug)
    if ws is None:
        raise ConsoleError(404, "Page not found", "There is no workspace with this slug.")
    return ws


async def _detail(request: Request, page: AdminPage, ws: Workspace, *, status: int = 200,
                  errors: dict[str, str] | None = None,
                  values: dict[str, str] | None = None) -> Response:
    row = (await _rows(page, only=ws.id))[0]
    async with page.console.ctx.db.read_session(ws.id) as session:
        members = await service.list_members(session)
    return await render(request, "admin/workspace.html", status=status, page=page,
                        active="workspaces", title=ws.name, row=row, ws=ws, members=members,
                        errors=errors or {},
                        values=values or {"name": ws.name, "plan": ws.plan or ""})


@router.get("/admin/workspaces/{slug}")
async def workspace_page(request: Request, slug: str) -> Response:
    page = await open_admin(request)
    return await _detail(request, page, await _workspace(page, slug))


@router.post("/admin/workspaces/{slug}")
async def update_workspace(request: Request, slug: str) -> Response:
    page = await open_admin(request)
    ws = await _workspace(page, slug)
    values = {"name": page.value("name"), "plan": page.value("plan")}
    try:
        async with page.console.ctx.db.session(ws.id) as session:
            row = (await session.execute(select(Workspace))).scalar_one()
            service.update_workspace(row, name=values["name"], plan=values["plan"] or None,
                                     clear_plan=not values["plan"])
    except DomainError as exc:
        return await _detail(request, page, ws, status=422, values=values,
                             errors={exc.field if exc.field in values else "form":
                                     sentence(exc.message)})
    page.flash("success", "Saved.")
    return redirect(f"/admin/workspaces/{ws.slug}")


async def _set_status(request: Request, slug: str, status: str) -> Response:
    page = await open_admin(request)
    ws = await _workspace(page, slug)
    async with page.console.ctx.db.session(ws.id) as session:
        row = (await session.execute(select(Workspace))).scalar_one()
        service.update_workspace(row, status=status)
    if status == WorkspaceStatus.SUSPENDED:
        page.flash("success", f"{ws.name} is suspended: its members can look but not change "
                              "anything.")
    else:
        page.flash("success", f"{ws.name} is active again.")
    back = page.value("back")
    return redirect(back if back in ("/admin",) else f"/admin/workspaces/{ws.slug}")


@router.post("/admin/workspaces/{slug}/suspend")
async def suspend(request: Request, slug: str) -> Response:
    return await _set_status(request, slug, WorkspaceStatus.SUSPENDED)


@router.post("/admin/workspaces/{slug}/resume")
async def resume(request: Request, slug: str) -> Response:
    return await _set_status(request, slug, WorkspaceStatus.ACTIVE)


@dataclass
class UserRow:
    user: User
    workspaces: list[tuple[str, str, str]]  # slug, name, role


@router.get("/admin/users")
async def users(request: Request) -> Response:
    page = await open_admin(request)
    async with page.console.ctx.db.read_session() as db:
        people = list((await db.execute(select(User).order_by(User.email))).scalars())
        links: defaultdict[int, list[tuple[str, str, str]]] = defaultdict(list)
        rows = await db.execute(
            select(Membership.user_id, Workspace.slug, Workspace.name, Membership.role)
            .join(Workspace, Workspace.id == Membership.workspace_id).order_by(Workspace.name))
        for user_id, slug, name, role in rows.all():
            links[user_id].append((slug, name, role))
    return await render(request, "admin/users.html", page=page, active="users", title="Users",
                        rows=[UserRow(u, links[u.id]) for u in people])

"""Members: who can open the workspace, as owner or read-only agent; add, change role, remove."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from panelpilot.console.access import WorkspacePage, open_workspace, sentence
from panelpilot.console.routing import console_router, redirect, render
from panelpilot.errors import Conflict, DomainError
from panelpilot.tenancy import service
from panelpilot.tenancy.models import Role

router = console_router()
ROLE_LABELS = {
    Role.OWNER.value: "Owner: changes settings, members and tokens",
    Role.AGENT.value: "Agent: read-only, for support staff",
}


async def _show(request: Request, page: WorkspacePage, *, status: int = 200,
                errors: dict[str, str] | None = None,
                values: dict[str, str] | None = None) -> Response:
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        members = await service.list_members(session)
    return await render(request, "ws/members.html", status=status, page=page, active="members",
                        title="Members", members=members, roles=ROLE_LABELS,
                        errors=errors or {}, values=values or {"role": Role.AGENT.value})


@router.get("/w/{slug}/members")
async def members_page(request: Request, slug: str) -> Response:
    return await _show(request, await open_workspace(request, slug))


@router.post("/w/{slug}/members")
async def add_member(request: Request, slug: str) -> Response:
    page = await open_workspace(request, slug)
    values = {"email": page.value("email"), "role": page.value("role"),
              "name": page.value("name")}
    password = page.value("password") or None
    errors: dict[str, str] = {}
    if values["role"] not in ROLE_LABELS:
        errors["role"] = "Choose owner or agent."
    if not values["email"]:
        errors["email"] = "Enter the person's email address."
    if not errors:
        try:
            async with page.console.ctx.db.session(page.ws.id) as session:
                member = await service.add_member(session, page.ws.id, email=values["email"],
                                                   role=values["role"], password=password,
                                                   name=values["name"])
                email, role = member.user.email, member.role
        except DomainError as exc:
            field = exc.field if exc.field in ("email", "role", "password", "name") else "form"
            errors[field] = sentence(exc.message)
    if errors:
        return await _show(request, page, status=422, errors=errors, values=values)
    page.flash("success", f"{email} was added as {role}. They sign in at this console's address.")
    return redirect(f"{page.base}/members")


@router.post("/w/{slug}/members/{member_id}/role")
async def change_role(request: Request, slug: str, member_id: int) -> Response:
    page = await open_workspace(request, slug)
    role = page.value("role")
    if role not in ROLE_LABELS:
        page.flash("error", "Choose owner or agent.")
        return redirect(f"{page.base}/members")
    try:
        async with page.console.ctx.db.session(page.ws.id) as session:
            member = await service.change_member_role(session, member_id, role)
            email = member.user.email
    except Conflict as exc:
        page.flash("error", sentence(exc.message) + " Make someone else an owner first.")
        return redirect(f"{page.base}/members")
    page.flash("success", f"{email} is now {role}.")
    if member.user_id == page.user.id and role != Role.OWNER and page.role != Role.PLATFORM_OWNER:
        return redirect(page.base)  # they just gave up the right to be on this page's forms
    return redirect(f"{page.base}/members")


@router.post("/w/{slug}/members/{member_id}/remove")
async def remove_member(request: Request, slug: str, member_id: int) -> Response:
    page = await open_workspace(request, slug)
    try:
        async with page.console.ctx.db.session(page.ws.id) as session:
            member = await service.get_member(session, member_id)
            email, user_id = member.user.email, member.user_id
            await service.remove_member(session, member_id)
    except Conflict as exc:
        page.flash("error", sentence(exc.message) + " Make someone else an owner first.")
        return redirect(f"{page.base}/members")
    if user_id == page.user.id and page.role != Role.PLATFORM_OWNER:
        page.flash("success", f"You left {page.ws.name}.")
        return redirect("/")
    page.flash("success", f"{email} was removed from this workspace.")
    return redirect(f"{page.base}/members")

"""Chats: every chat the workspace's channels have seen, with its role (customer, customer group,
provider group, support chat, unknown), whether the bot can reach it, and when it last wrote.

Owners change a chat's role here (checked by ``chats.service.check_role``, as in the JSON API).
Search, filters and paging all run in the database: ``?q=`` (id or title), ``role``, ``channel``
(its key), ``state`` (reachable or not), ``before`` (the older page).
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import or_, select
from starlette.responses import Response

from panelpilot.chats.models import Chat, ChatRole
from panelpilot.chats.service import check_role
from panelpilot.console.access import not_found, open_workspace, sentence
from panelpilot.console.listing import (
    PAGE_SIZE,
    Paging,
    back_to,
    channel_refs,
    id_filter,
    text_filter,
    url_with,
)
from panelpilot.console.nav import NavItem, add_workspace_page
from panelpilot.console.routing import console_router, redirect, render
from panelpilot.errors import DomainError

router = console_router()
add_workspace_page(NavItem("chats", "Chats", "/chats", section="Routing", order=50))

ROLE_LABELS = {
    ChatRole.CUSTOMER.value: "Customer",
    ChatRole.CUSTOMER_GROUP.value: "Customer group",
    ChatRole.PROVIDER_GROUP.value: "Provider group",
    ChatRole.SUPPORT.value: "Support chat",
    ChatRole.UNKNOWN.value: "Unknown",
}
ROLE_HELP = {
    ChatRole.CUSTOMER.value: "a customer writing to the bot",
    ChatRole.CUSTOMER_GROUP.value: "a group of customers; the bot answers commands there",
    ChatRole.PROVIDER_GROUP.value: "an upstream provider's group that receives dispatched "
                                   "commands; customers' commands are never taken from it",
    ChatRole.SUPPORT.value: "your own team's chat",
    ChatRole.UNKNOWN.value: "not decided yet",
}
STATE_OPTIONS = {"": "Any", "reachable": "Reachable", "unreachable": "Unreachable"}


@router.get("/w/{slug}/chats")
async def list_chats(request: Request, slug: str, q: str = "", role: str = "",
                     channel: str = "", state: str = "", before: str = "") -> Response:
    page = await open_workspace(request, slug)
    q, channel = text_filter(q), text_filter(channel)
    state = state if state in STATE_OPTIONS else ""
    older_than = id_filter(before)
    errors: dict[str, str] = {}
    if role and role not in ROLE_LABELS:
        errors["role"], role = "Choose a role from the list.", ""
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        refs = await channel_refs(session)
        by_key = {ref.key: ref for ref in refs.values()}
        if channel and channel not in by_key:
            errors["channel"], channel = f"There is no channel named {channel}.", ""
        query = select(Chat).order_by(Chat.id.desc()).limit(PAGE_SIZE + 1)
        if q:
            query = query.where(or_(Chat.chat_id.icontains(q, autoescape=True),
                                    Chat.title.icontains(q, autoescape=True)))
        if role:
            query = query.where(Chat.role == role)
        if channel:
            query = query.where(Chat.channel_id == by_key[channel].id)
        if state:
            query = query.where(Chat.reachable == (state == "reachable"))
        if older_than is not None:
            query = query.where(Chat.id < older_than)
        rows = list((await session.execute(query)).scalars())
        anything = rows or (await session.execute(select(Chat.id).limit(1))).first()
    filters = {"q": q, "role": role, "channel": channel, "state": state}
    base = f"{page.base}/chats"
    paging = Paging.of(rows, base, filters, older_than)
    here = url_with(base, {**filters, "before": older_than})
    return await render(
        request, "ws/chats.html", page=page, active="chats",
        title="Chats", paging=paging, channels=refs, roles=ROLE_LABELS, role_help=ROLE_HELP,
        role_options={"": "Any role", **ROLE_LABELS},
        channel_options={"": "Any channel", **{k: k for k in by_key}},
        state_options=STATE_OPTIONS, values=filters, errors=errors,
        filtered=any(filters.values()) or older_than is not None, anything=bool(anything),
        clear_url=base, here=here)


@router.post("/w/{slug}/chats/{chat_pk}/role")
async def change_role(request: Request, slug: str, chat_pk: int) -> Response:
    page = await open_workspace(request, slug)
    back = back_to(page, page.value("back"), f"{page.base}/chats")
    try:
        role = check_role(page.value("role"))
    except DomainError as exc:
        page.flash("error", sentence(exc.message))
        return redirect(back)
    async with page.console.ctx.db.session(page.ws.id) as session:
        chat = (await session.execute(select(Chat).where(Chat.id == chat_pk))).scalar()
        if chat is None:
            raise not_found()
        name = chat.title or chat.chat_id
        changed = chat.role != role
        chat.role = role
    if changed:
        page.flash("success", f"{name} is now: {ROLE_LABELS[role].lower()}.")
    else:
        page.flash("info", f"{name} already was: {ROLE_LABELS[role].lower()}.")
    return redirect(back)

"""Support chats: the workspace's own team chats, which may act on any order and run the admin
commands (``link <chat> <username>``, ``unlink``, ``order <id>``), and the optional fallback
chat that receives provider commands no route can take.

Adding calls ``orders.admin.add_support_chat`` and removing ``orders.admin.remove_support_chat``,
as the JSON API does. Adding a chat that is already a support chat changes its fallback flag.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import select
from starlette.responses import Response

from panelpilot.chats.models import Chat, ChatRole
from panelpilot.console.access import WorkspacePage, not_found, open_workspace, sentence
from panelpilot.console.listing import ChannelRef, channel_refs
from panelpilot.console.nav import NavItem, add_workspace_page
from panelpilot.console.routing import console_router, redirect, render
from panelpilot.errors import DomainError
from panelpilot.orders import admin, linking
from panelpilot.orders.models import SupportChat

router = console_router()
add_workspace_page(NavItem("support", "Support chats", "/support", section="Routing",
                           order=44))
SUGGESTIONS = 200  # known chats offered while typing a chat id


@dataclass
class SupportRow:
    row: SupportChat
    chat: Chat
    channel: ChannelRef | None


async def _page(request: Request, page: WorkspacePage, *, values: dict[str, str] | None = None,
                errors: dict[str, str] | None = None, status: int = 200) -> Response:
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        refs = await channel_refs(session)
        found = (await session.execute(
            select(SupportChat, Chat).join(Chat, Chat.id == SupportChat.chat_pk)
            .order_by(SupportChat.id))).all()
        known = list((await session.execute(
            select(Chat).where(Chat.role == ChatRole.UNKNOWN)
            .order_by((Chat.chat_type == "private").asc(), Chat.last_inbound_at.desc(),
                      Chat.id.desc()).limit(SUGGESTIONS))).scalars())
    rows = [SupportRow(r, c, refs.get(c.channel_id)) for r, c in found]
    channel_options = {"": "Choose a channel…", **{r.key: f"{r.key} ({r.kind})"
                                                    for r in refs.values()}}
    values = dict(values or {})
    if len(refs) == 1 and not values.get("channel"):
        values["channel"] = next(iter(refs.values())).key
    return await render(request, "ws/support.html", status=status, page=page, active="support",
                        title="Support chats", rows=rows, channels=refs, known=known,
                        channel_options=channel_options, values=values, errors=errors or {})


@router.get("/w/{slug}/support")
async def support_chats(request: Request, slug: str) -> Response:
    page = await open_workspace(request, slug)
    return await _page(request, page)


@router.post("/w/{slug}/support")
async def add_support(request: Request, slug: str) -> Response:
    page = await open_workspace(request, slug)
    values = {"channel": page.value("channel"), "chat": page.value("chat"),
              "fallback": "1" if page.value("fallback") else ""}
    errors: dict[str, str] = {}
    if not values["channel"]:
        errors["channel"] = "Choose the channel this chat is on."
    if not values["chat"]:
        errors["chat"] = "Enter the chat's id, e.g. -1001234567890 or 120363…@g.us."
    if errors:
        return await _page(request, page, values=values, errors=errors, status=422)
    try:
        async with page.console.ctx.db.session(page.ws.id) as session:
            chat, _ = await admin.chat_by_ref(session, page.ws.id, values["channel"],
                                              values["chat"])
            was_linked = await linking.linked_username(session, chat.id)
            existed = (await session.execute(
                select(SupportChat.id).where(SupportChat.chat_pk == chat.id))).first()
            await admin.add_support_chat(session, page.ws.id, values["channel"],
                                         values["chat"], bool(values["fallback"]))
            name = chat.title or chat.chat_id
    except DomainError as exc:
        field = exc.field if exc.field in ("channel", "chat") else "form"
        return await _page(request, page, values=values,
                           errors={field: sentence(exc.message)}, status=422)
    role = "the fallback support chat" if values["fallback"] else "a support chat"
    verb = "is now" if existed else "is now added as"
    message = f"{name} {verb} {role}."
    if was_linked:
        message += f" Its link to the customer {was_linked} was removed."
    page.flash("success", message)
    return redirect(f"{page.base}/support")


@router.post("/w/{slug}/support/{support_id}/remove")
async def remove_support(request: Request, slug: str, support_id: int) -> Response:
    page = await open_workspace(request, slug)
    try:
        async with page.console.ctx.db.session(page.ws.id) as session:
            chat = await admin.remove_support_chat(session, support_id)
            name = (chat.title or chat.chat_id) if chat is not None else f"#{support_id}"
    except DomainError:
        raise not_found() from None
    page.flash("success", f"{name} is no longer a support chat: it can not act on orders "
                          "or run admin commands any more.")
    return redirect(f"{page.base}/support")

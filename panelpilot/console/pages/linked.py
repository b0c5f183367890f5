"""Linked users: which chats are linked to which panel usernames, and by whom.

The list searches usernames, chat ids and titles and filters by channel and source (file, api,
support, self), with paging; owners link a chat (one the workspace knows, or a channel and a chat
id typed in) and unlink it. Each chat has a page with its link, its last commands and its link
history. Reads go through ``orders.linked_chats`` and changes through ``orders.admin.link_chat``
and ``orders.linking.unlink``, as in the JSON API. Links made by ``workspace apply`` (source
"file") are marked: the next apply puts them back as the file says.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import select
from starlette.responses import Response

from panelpilot.channels.models import ChannelAccount
from panelpilot.chats.models import Chat
from panelpilot.console import checklist
from panelpilot.console.access import WorkspacePage, not_found, open_workspace, sentence
from panelpilot.console.listing import PAGE_SIZE, Paging, back_to, id_filter, text_filter, url_with
from panelpilot.console.nav import NavItem, add_workspace_page
from panelpilot.console.routing import console_router, redirect, render
from panelpilot.errors import DomainError, Invalid, NotFound
from panelpilot.orders import admin, linked_chats, linking

router = console_router()
add_workspace_page(NavItem("linked", "Linked users", "/linked", section="Routing", order=20))

FILE_NOTE = ("Made by the workspace file: the next “workspace apply” puts it back as the file "
             "says. Change the file's linked_users too.")


def command_log_url(request: Request, base: str) -> str | None:
    """The console's command log, when that page is installed (it links each command)."""
    for route in request.app.routes:
        if getattr(route, "path", "") == "/w/{slug}/commands":
            return f"{base}/commands"
    return None


def _who(page: WorkspacePage) -> str:
    return f"{page.user.email} (console)"


async def _form_values(page: WorkspacePage) -> dict[str, Any]:
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        chats = await linked_chats.known_chats(session)
        channels = list((await session.execute(
            select(ChannelAccount.key).order_by(ChannelAccount.key))).scalars())
    return {"known": chats, "channel_keys": channels}


@router.get("/w/{slug}/linked")
async def list_linked(request: Request, slug: str, q: str = "", channel: str = "",
                      source: str = "", before: str = "") -> Response:
    page = await open_workspace(request, slug)
    return await _list(request, page, q=q, channel=channel, source=source, before=before)


async def _list(request: Request, page: WorkspacePage, *, q: str = "", channel: str = "",
                source: str = "", before: str = "", status: int = 200,
                errors: dict[str, str] | None = None,
                form: dict[str, str] | None = None) -> Response:
    q, channel = text_filter(q), text_filter(channel)
    older_than = id_filter(before)
    filter_errors: dict[str, str] = {}
    if source and source not in linked_chats.SOURCES:
        filter_errors["source"], source = "Choose a source from the list.", ""
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        keys = list((await session.execute(
            select(ChannelAccount.key).order_by(ChannelAccount.key))).scalars())
        if channel and channel not in keys:
            filter_errors["channel"], channel = f"There is no channel named {channel}.", ""
        rows = await linked_chats.list_links(session, q=q, channel=channel, source=source,
                                             before=older_than, limit=PAGE_SIZE + 1)
        total = await linked_chats.count_links(session)
    filters = {"q": q, "channel": channel, "source": source}
    base = f"{page.base}/linked"
    extra = await _form_values(page) if page.can_write else {"known": [], "channel_keys": keys}
    errors = dict(errors or {})
    if "known" in errors and not extra["known"]:
        errors["form"] = errors.pop("known")  # no list to show it beside
    return await render(
        request, "ws/linked.html", status=status, page=page, active="linked",
        title="Linked users", paging=Paging.of(rows, base, filters, older_than), total=total,
        filters=filters, filter_errors=filter_errors,
        channel_options={"": "Any channel", **{k: k for k in keys}},
        source_options={"": "Any source", **linked_chats.SOURCES},
        filtered=any(filters.values()) or older_than is not None, clear_url=base,
        here=url_with(base, {**filters, "before": older_than}),
        errors=errors, values=form or {}, file_note=FILE_NOTE, **extra)


def _link_errors(exc: DomainError, known: bool) -> dict[str, str]:
    field = exc.field or "form"
    if field in ("chat", "channel") and known:
        field = "known"
    elif field == "channel":
        field = "chat_channel"
    elif field not in ("chat", "username", "known"):
        field = "form"
    return {field: sentence(exc.message)}


@router.post("/w/{slug}/linked")
async def link_chat(request: Request, slug: str) -> Response:
    page = await open_workspace(request, slug)
    form = {name: page.value(name) for name in ("known", "chat_channel", "chat", "username")}
    errors: dict[str, str] = {}
    known_pk = id_filter(form["known"])
    if form["known"] and known_pk is None:
        errors["known"] = "Choose a chat from the list."
    if not form["known"]:
        if not form["chat_channel"]:
            errors["chat_channel"] = "Choose the channel the chat writes to."
        if not form["chat"]:
            errors["chat"] = "Type the chat id (a Telegram id, or a WhatsApp number), or " \
                             "choose a known chat above."
    if not form["username"]:
        errors["username"] = "Type the customer's username in your panel."
    previous: linked_chats.LinkRow | None = None
    if not errors:
        try:
            async with page.console.ctx.db.session(page.ws.id) as session:
                channel, chat_id = form["chat_channel"], form["chat"]
                if known_pk is not None:
                    found = (await session.execute(
                        select(Chat, ChannelAccount.key)
                        .join(ChannelAccount, ChannelAccount.id == Chat.channel_id)
                        .where(Chat.id == known_pk))).first()
                    if found is None:
                        raise Invalid("that chat is not in this workspace", field="known")
                    channel, chat_id = found[1], found[0].chat_id
                else:
                    chat_id = linking.normalize_chat_id(
                        (await admin.channel_by_key(session, channel)).kind, chat_id)
                    existing = (await session.execute(
                        select(Chat.id).join(ChannelAccount,
                                             ChannelAccount.id == Chat.channel_id)
                        .where(ChannelAccount.key == channel, Chat.chat_id == chat_id))
                    ).scalar()
                    known_pk = existing
                if known_pk is not None:
                    previous = await linked_chats.link_of_chat(session, known_pk)
                username = linking.check_username(form["username"])
                if previous is not None and previous.username == username:
                    # Nothing to change; linking again would only take a file's link over.
                    chat_pk = previous.chat_pk
                else:
                    link = await admin.link_chat(session, page.ws.id, channel, chat_id,
                                                 username, by=_who(page))
                    chat_pk, username = link.chat_pk, link.username
        except DomainError as exc:
            errors = _link_errors(exc, bool(form["known"]))
    if errors:
        return await _list(request, page, status=422, errors=errors, form=form)
    if previous is None:
        page.flash("success", f"Linked to {username}: this chat can now ask about "
                              f"{username}'s orders.")
    elif previous.username != username:
        message = f"Linked to {username} (it was linked to {previous.username})."
        if previous.managed_by_file:
            message += " " + FILE_NOTE
        page.flash("success", message)
    else:
        page.flash("info", f"This chat was already linked to {username}.")
    return redirect(f"{page.base}/linked/{chat_pk}")


async def _chat_link(page: WorkspacePage, chat_pk: int) -> linked_chats.ChatLink:
    try:
        async with page.console.ctx.db.read_session(page.ws.id) as session:
            return await linked_chats.chat_link(session, chat_pk)
    except NotFound:
        raise not_found() from None


@router.get("/w/{slug}/linked/{chat_pk}")
async def linked_detail(request: Request, slug: str, chat_pk: int) -> Response:
    page = await open_workspace(request, slug)
    detail = await _chat_link(page, chat_pk)
    base = f"{page.base}/linked"
    return await render(
        request, "ws/linked_detail.html", page=page, active="linked",
        title=f"Linked chat {detail.chat.title or detail.chat.chat_id}", detail=detail,
        sources=linked_chats.SOURCES, commands_url=command_log_url(request, page.base),
        back=base, file_note=FILE_NOTE, url_with=url_with,
        values={"username": detail.link.username if detail.link else ""}, errors={})


@router.post("/w/{slug}/linked/{chat_pk}/unlink")
async def unlink_chat(request: Request, slug: str, chat_pk: int) -> Response:
    page = await open_workspace(request, slug)
    back = back_to(page, page.value("back"), f"{page.base}/linked")
    async with page.console.ctx.db.session(page.ws.id) as session:
        chat = (await session.execute(select(Chat).where(Chat.id == chat_pk))).scalar()
        if chat is None:
            raise not_found()
        link = await linked_chats.link_of_chat(session, chat_pk)
        username = await linking.unlink(session, chat)
    name = chat.title or chat.chat_id
    if username is None:
        page.flash("info", f"{name} was not linked.")
    else:
        message = f"{name} is no longer linked to {username}."
        if link is not None and link.managed_by_file:
            message += " " + FILE_NOTE
        page.flash("success", message)
    return redirect(back)


# --- the setup checklist ---------------------------------------------------------------------


async def users_linked(c: checklist.StepContext) -> checklist.ChecklistItem:
    count = await linked_chats.count_links(c.session)
    detail = (f"{count} chat{'s' if count != 1 else ''} linked to panel usernames" if count
              else "Link a customer's chat to their panel username (or let them link "
                   "themselves with “link <username>”).")
    return checklist.ChecklistItem("linked_users", "Link users", count > 0, f"{c.base}/linked",
                                   detail)


checklist.provide("linked_users", users_linked)

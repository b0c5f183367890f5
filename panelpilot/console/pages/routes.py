"""Provider routes: which upstream provider's orders go to which provider group, and the clean
command the group receives for each action (``EXT-99812 refill``).

Saving calls ``orders.admin.save_route`` and deleting ``orders.admin.delete_route``, as the JSON
API does; the preview renders each command with ``orders.admin.preview_commands`` (the dispatch's
own ``routing.command_text``). The group is picked from the workspace's chats (provider groups
first) or typed as a chat id. This module also fills the checklist's "Map your providers" step.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from panelpilot.chats import service as chat_service
from panelpilot.chats.models import Chat, ChatRole
from panelpilot.console import checklist
from panelpilot.console.access import WorkspacePage, not_found, open_workspace, sentence
from panelpilot.console.listing import ChannelRef, channel_refs, text_filter
from panelpilot.console.nav import NavItem, add_workspace_page
from panelpilot.console.routing import console_router, redirect, render, render_fragment
from panelpilot.errors import DomainError
from panelpilot.orders import admin
from panelpilot.orders.models import ProviderRoute, SupportChat
from panelpilot.orders.routing import COMMAND_VALUES, DEFAULT_COMMAND
from panelpilot.orders.rules import ACTIONS

router = console_router()
add_workspace_page(NavItem("routes", "Provider routes", "/routes", section="Routing", order=42))
PARTIAL_HEADER = "x-console-partial"
GROUP_CHOICES = 300  # chats offered in the group list; any other can be typed
ACTION_HELP = {
    "speed": "Sent when a customer asks to speed up an order.",
    "cancel": "Sent when a customer asks to cancel an order.",
    "refill": "Sent when a customer asks for a refill.",
}


@dataclass
class GroupView:
    """Where a route sends: the chat as the workspace knows it (title, channel, state)."""

    channel: ChannelRef | None
    chat_id: str
    chat: Chat | None

    @property
    def label(self) -> str:
        return self.chat.title if self.chat is not None and self.chat.title else self.chat_id


@dataclass
class RouteRow:
    route: ProviderRoute
    group: GroupView | None

    @property
    def problems(self) -> list[str]:
        if self.group is None:
            return ["No group: orders of this provider are not sent anywhere (customers get "
                    "the “provider missing” answer)."]
        if self.group.channel is None:
            return ["The group's channel was removed: choose another group."]
        if self.group.chat is not None and not self.group.chat.reachable:
            return ["The bot cannot reach this group"
                    + (f" ({self.group.chat.unreachable_reason})"
                       if self.group.chat.unreachable_reason else "") + "."]
        return []


async def _group_of(session: AsyncSession, refs: dict[int, ChannelRef],
                    route: ProviderRoute) -> GroupView | None:
    if not route.chat_id:
        return None
    chat = None
    if route.channel_id is not None:
        chat = await chat_service.find(session, route.channel_id, route.chat_id)
    ref = refs.get(route.channel_id) if route.channel_id is not None else None
    return GroupView(ref, chat.chat_id if chat else route.chat_id, chat)


@router.get("/w/{slug}/routes")
async def list_routes(request: Request, slug: str, q: str = "") -> Response:
    page = await open_workspace(request, slug)
    q = text_filter(q)
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        refs = await channel_refs(session)
        every = list((await session.execute(
            select(ProviderRoute).order_by(ProviderRoute.name))).scalars())
        rows = [RouteRow(r, await _group_of(session, refs, r)) for r in every
                if not q or q.lower() in r.name.lower()
                or any(q.lower() in str(t).lower() for t in r.match or [])]
        fallback = (await session.execute(
            select(Chat).join(SupportChat, SupportChat.chat_pk == Chat.id)
            .where(SupportChat.fallback.is_(True)).limit(1))).scalar()
    return await render(request, "ws/routes.html", page=page, active="routes",
                        title="Provider routes", rows=rows, total=len(every),
                        values={"q": q}, filtered=bool(q), fallback=fallback,
                        actions=ACTIONS, default_command=DEFAULT_COMMAND)


# --- the form ----------------------------------------------------------------------------------


@dataclass
class GroupChoice:
    value: str  # "chat:<pk>"
    label: str
    provider_group: bool


async def _choices(page: WorkspacePage, keep_pk: int | None) -> list[GroupChoice]:
    """Chats a route can send to: provider groups first, then other groups, then the rest
    (never customers or support chats, which a route refuses)."""
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        refs = await channel_refs(session)
        query = (select(Chat).where(or_(
            Chat.role.in_([ChatRole.PROVIDER_GROUP, ChatRole.UNKNOWN]),
            Chat.id == (keep_pk or 0)))
            .order_by((Chat.role == ChatRole.PROVIDER_GROUP).desc(),
                      (Chat.chat_type == "private").asc(), Chat.title, Chat.id)
            .limit(GROUP_CHOICES))
        chats = list((await session.execute(query)).scalars())
    out = []
    for chat in chats:
        ref = refs.get(chat.channel_id)
        where = f"{ref.key} · " if ref else ""
        kind = "provider group" if chat.role == ChatRole.PROVIDER_GROUP else chat.chat_type
        label = f"{chat.title or 'No title'} — {where}{chat.chat_id} ({kind})"
        out.append(GroupChoice(f"chat:{chat.id}", label, chat.role == ChatRole.PROVIDER_GROUP))
    return out


def _values_of(route: ProviderRoute | None, group_pk: int | None) -> dict[str, str]:
    if route is None:
        return {"bulk": "1", "group": ""}
    values = {"name": route.name, "match": "\n".join(str(t) for t in route.match or []),
              "bulk": "1" if route.bulk else "", "group": f"chat:{group_pk}" if group_pk else ""}
    for action in ACTIONS:
        values[f"command_{action}"] = str((route.commands or {}).get(action, ""))
    if route.chat_id and not group_pk:
        values["chat"] = route.chat_id
    return values


def _posted(page: WorkspacePage) -> dict[str, str]:
    raw = page.form.get("match") if page.form is not None else None
    match = raw.replace("\r\n", "\n") if isinstance(raw, str) else ""
    values = {"name": page.value("name"), "match": match.strip(),
              "bulk": "1" if page.value("bulk") else "", "group": page.value("group"),
              "channel": page.value("channel"), "chat": page.value("chat")}
    for action in ACTIONS:
        values[f"command_{action}"] = page.value(f"command_{action}")
    return values


def _terms(text: str) -> list[str]:
    return [t.strip() for line in text.splitlines() for t in line.split(",") if t.strip()]


def _commands(values: dict[str, str]) -> dict[str, str]:
    # An empty field means the default wording, which is not stored.
    return {a: values[f"command_{a}"] for a in ACTIONS if values.get(f"command_{a}")}


def _provider_sample(values: dict[str, str]) -> str:
    terms = _terms(values.get("match", ""))
    return terms[0] if terms else values.get("name", "")


async def _form(request: Request, page: WorkspacePage, route: ProviderRoute | None, *,
                values: dict[str, str], errors: dict[str, str] | None = None,
                status: int = 200, draft: bool = False) -> Response:
    keep = values.get("group", "")
    keep_pk = int(keep[5:]) if keep.startswith("chat:") and keep[5:].isdigit() else None
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        refs = await channel_refs(session)
        group = await _group_of(session, refs, route) if route is not None else None
    choices = await _choices(page, keep_pk)
    channel_options = {"": "Choose a channel…", **{r.key: f"{r.key} ({r.kind})"
                                                    for r in refs.values()}}
    if len(refs) == 1 and not values.get("channel"):
        values = {**values, "channel": next(iter(refs.values())).key}
    preview = admin.preview_commands(_commands(values), bool(values.get("bulk")),
                                     _provider_sample(values))
    title = f"Route {route.name}" if route is not None else "New provider route"
    return await render(
        request, "ws/route.html", status=status, page=page, active="routes", title=title,
        route=route, group=group, values=values, errors=errors or {}, choices=choices,
        channel_options=channel_options, channels=refs, preview=preview, actions=ACTIONS,
        action_help=ACTION_HELP, default_command=DEFAULT_COMMAND,
        command_values=COMMAND_VALUES, draft=draft)


async def _route(page: WorkspacePage, route_id: int) -> ProviderRoute:
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        route = (await session.execute(
            select(ProviderRoute).where(ProviderRoute.id == route_id))).scalar()
    if route is None:
        raise not_found()
    return route


async def _group_pk(page: WorkspacePage, route: ProviderRoute) -> int | None:
    if not route.channel_id or not route.chat_id:
        return None
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        chat = await chat_service.find(session, route.channel_id, route.chat_id)
    return chat.id if chat is not None else None


@router.get("/w/{slug}/routes/new")
async def new_route(request: Request, slug: str) -> Response:
    page = await open_workspace(request, slug)
    # Agents get the page too, saying that only owners add routes (no form).
    return await _form(request, page, None, values=_values_of(None, None))


@router.post("/w/{slug}/routes/preview")
async def preview_route(request: Request, slug: str) -> Response:
    page = await open_workspace(request, slug)
    values = _posted(page)
    preview = admin.preview_commands(_commands(values), bool(values["bulk"]),
                                     _provider_sample(values))
    if request.headers.get(PARTIAL_HEADER) == "1":
        return await render_fragment(request, "ws/route_preview.html", page=page,
                                     preview=preview, live=True)
    # Without JavaScript: the whole form again, as typed, with the preview; nothing saved.
    raw_id = page.value("route_id")
    route = await _route(page, int(raw_id)) if raw_id.isdigit() else None
    return await _form(request, page, route, values=values, draft=True)


@router.get("/w/{slug}/routes/{route_id}")
async def route_page(request: Request, slug: str, route_id: int) -> Response:
    page = await open_workspace(request, slug)
    route = await _route(page, route_id)
    return await _form(request, page, route, values=_values_of(route,
                                                               await _group_pk(page, route)))


def _field_of(exc: DomainError, from_list: bool) -> tuple[str, str]:
    """Which form field a feature error belongs beside, and its sentence."""
    message = exc.message
    if exc.field == "commands":
        for action in ACTIONS:
            prefix = f"commands.{action}: "
            if message.startswith(prefix):
                return f"command_{action}", sentence(message[len(prefix):])
        return "form", sentence(message)
    if exc.field == "chat":
        return ("group" if from_list else "chat"), sentence(message)
    if exc.field in ("name", "match", "channel"):
        return str(exc.field), sentence(message)
    return "form", sentence(message)


async def _save(request: Request, page: WorkspacePage, route_id: int | None) -> Response:
    route = await _route(page, route_id) if route_id is not None else None
    values = _posted(page)
    errors: dict[str, str] = {}
    channel = chat_id = None
    from_list = False
    if values["chat"]:
        channel, chat_id = values["channel"] or None, values["chat"]
        if channel is None:
            errors["channel"] = "Choose the channel this chat is on."
    elif values["group"]:
        from_list = True
        pk = values["group"][5:] if values["group"].startswith("chat:") else ""
        async with page.console.ctx.db.read_session(page.ws.id) as session:
            chat = (await session.execute(select(Chat).where(Chat.id == int(pk)))).scalar() \
                if pk.isdigit() else None
            refs = await channel_refs(session)
        if chat is None or chat.channel_id not in refs:
            errors["group"] = "Choose a chat from the list, or type a chat id below."
        else:
            channel, chat_id = refs[chat.channel_id].key, chat.chat_id
    if not values["name"]:
        errors["name"] = "Give the provider a name, e.g. smmprovider."
    if errors:
        return await _form(request, page, route, values=values, errors=errors, status=422)
    body = admin.RouteIn(values["name"], _terms(values["match"]), channel, chat_id,
                         _commands(values), bool(values["bulk"]))
    try:
        async with page.console.ctx.db.session(page.ws.id) as session:
            if route is not None:
                current = (await session.execute(
                    select(ProviderRoute).where(ProviderRoute.id == route.id))).scalar()
                if current is None:
                    raise not_found()
                saved = await admin.save_route(session, page.ws.id, body, current)
            else:
                saved = await admin.save_route(session, page.ws.id, body)
            name = saved.name
    except DomainError as exc:
        field, message = _field_of(exc, from_list)
        return await _form(request, page, route, values=values, errors={field: message},
                           status=422)
    page.flash("success", f"Route {name} saved: its orders go "
                          + (f"to {chat_id}." if chat_id else "nowhere until it has a group."))
    return redirect(f"{page.base}/routes")


@router.post("/w/{slug}/routes")
async def create_route(request: Request, slug: str) -> Response:
    page = await open_workspace(request, slug)
    return await _save(request, page, None)


@router.post("/w/{slug}/routes/{route_id}")
async def save_route(request: Request, slug: str, route_id: int) -> Response:
    page = await open_workspace(request, slug)
    return await _save(request, page, route_id)


@router.post("/w/{slug}/routes/{route_id}/delete")
async def delete_route(request: Request, slug: str, route_id: int) -> Response:
    page = await open_workspace(request, slug)
    async with page.console.ctx.db.session(page.ws.id) as session:
        route = (await session.execute(
            select(ProviderRoute).where(ProviderRoute.id == route_id))).scalar()
        if route is None:
            raise not_found()
        name = route.name
        await admin.delete_route(session, route)
    page.flash("success", f"Route {name} removed. Orders of this provider now get the "
                          "“route missing” answer (or go to your fallback support chat).")
    return redirect(f"{page.base}/routes")


# --- the setup checklist ---------------------------------------------------------------------


async def providers_mapped(c: checklist.StepContext) -> checklist.ChecklistItem:
    count, grouped = (await c.session.execute(
        select(func.count(), func.count(ProviderRoute.chat_id))
        .select_from(ProviderRoute))).one()
    if not count:
        detail = "Add a route for each provider: which group gets its orders, and how."
    elif grouped < count:
        detail = f"{count} mapped; {count - grouped} without a group yet."
    else:
        detail = f"{count} provider{'s' if count != 1 else ''} mapped."
    return checklist.ChecklistItem("providers", "Map your providers", count > 0,
                                   f"{c.base}/routes", detail)


checklist.provide("providers", providers_mapped)

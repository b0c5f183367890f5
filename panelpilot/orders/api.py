"""JSON API of order support under ``/api/v1/workspaces/{slug}/orders``.

Logs (read by any member): commands with each order's verdict, failed commands, dispatches with
their delivery, cooldowns, panel tickets, panel API calls; each with filters and ``?limit=&
before=`` paging on descending ids. Set-up (changed by owners): rules and aliases, provider
routes, linked chats, support chats, service rules, a catalogue refresh, and a dry run.
Analytics (read by any member): the figures of the console's Analytics page (``orders.analytics``).
Anything of another workspace answers 404.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, select

from panelpilot.channels.models import ChannelAccount
from panelpilot.chats.models import Chat
from panelpilot.errors import NotFound
from panelpilot.orders import admin, analytics, linked_chats, linking, logs, testrun
from panelpilot.orders.models import (
    PanelCall,
    PanelTicketLog,
    ProviderRoute,
    SupportChat,
)
from panelpilot.web.auth import Principal, context, principal, workspace_for
from panelpilot.web.paging import Before, Limit

router = APIRouter(prefix="/api/v1/workspaces/{slug}/orders", tags=["orders"])
Who = Annotated[Principal, Depends(principal)]
Since = Annotated[datetime | None, Query(description="Only rows at or after this time.")]
Until = Annotated[datetime | None, Query(description="Only rows before this time.")]


def _page(query: Any, column: Any, limit: int, before: int | None) -> Any:
    query = query.order_by(column.desc()).limit(limit)
    return query.where(column < before) if before else query


# --- command log -----------------------------------------------------------------------------
# The queries live in orders.logs, shared with the console's log pages.


class CommandOrderOut(BaseModel):
    order_id: str
    verdict: str
    reason: str
    detail: str
    status: str | None
    provider: str | None
    external_id: str | None
    dispatch_id: int | None


class CommandOut(BaseModel):
    id: int
    created_at: datetime
    source: str
    channel_id: int | None
    chat_id: str | None
    username: str | None
    text: str
    kind: str
    action: str | None
    outcome: str
    error_type: str | None
    suggestion: str | None
    corrected_from: str | None
    order_count: int
    reply: str
    detail: str
    latency_ms: int
    event_id: int | None
    ticket_id: str | None
    orders: list[CommandOrderOut] = Field(default_factory=list)


class CommandDetailOut(CommandOut):
    reply_message_ids: list[int] = Field(
        default_factory=list, description="The answers queued in the chat (delivery log).")
    dispatch_ids: list[int] = Field(default_factory=list)
    panel_call_ids: list[int] = Field(default_factory=list)
    panel_ticket_log_id: int | None = Field(
        default=None, description="The panel-ticket entry, for commands from a ticket.")


def _command_out(entry: logs.CommandEntry) -> CommandOut:
    out = CommandOut.model_validate(entry.command, from_attributes=True)
    out.orders = [CommandOrderOut.model_validate(i, from_attributes=True) for i in entry.orders]
    return out


@router.get("/commands", response_model=list[CommandOut])
async def list_commands(
    request: Request, who: Who, slug: str, limit: Limit = 100, before: Before = None,
    since: Since = None, until: Until = None, chat_id: str | None = None,
    username: str | None = None,
    order_id: str | None = Query(default=None, description="Commands that named this order."),
    verdict: str | None = Query(default=None, description="An order's verdict (sent, status, "
                                "not_found, not_yours, not_eligible, too_early, cooldown, "
                                "provider_missing, route_missing), or 'allowed' / 'refused'."),
    kind: str | None = None, action: str | None = None,
    source: str | None = Query(default=None, description="chat, support, ticket or console."),
    outcome: str | None = None,
    error_type: str | None = Query(default=None, description="typo, unrecognized, "
                                   "missing_ids, missing_action, or 'any'."),
) -> list[CommandOut]:
    """The command log: who asked what, each order's verdict, and how long it took."""
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    filters = logs.CommandFilters(since, until, chat_id, username, order_id, verdict, kind,
                                  action, source, outcome, error_type)
    async with ctx.db.session(ws.id) as session:
        rows = await logs.commands(session, filters, limit=limit, before=before)
    return [_command_out(r) for r in rows]


@router.get("/commands/{command_id}", response_model=CommandDetailOut)
async def get_command(request: Request, who: Who, slug: str,
                      command_id: int) -> CommandDetailOut:
    """One command, and the ids of what it led to (answers, dispatches, panel calls)."""
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.session(ws.id) as session:
        found = await logs.command_detail(session, command_id)
    out = CommandDetailOut(**_command_out(
        logs.CommandEntry(found.command, found.orders)).model_dump())
    out.reply_message_ids = [m.id for m in found.replies]
    out.dispatch_ids = [d.id for d in found.dispatches]
    out.panel_call_ids = [c.id for c in found.calls]
    out.panel_ticket_log_id = found.ticket.id if found.ticket else None
    return out


class FailedCommandOut(BaseModel):
    text: str
    error_type: str | None
    suggestion: str | None
    occurrences: int
    chats: int
    last_seen: datetime


@router.get("/failed-commands", response_model=list[FailedCommandOut])
async def failed_commands(request: Request, who: Who, slug: str, since: Since = None,
                          error_type: str | None = None,
                          limit: Limit = 100) -> list[FailedCommandOut]:
    """Messages nobody understood, most frequent first, with the command they were close to."""
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.session(ws.id) as session:
        rows = await logs.failed_commands(session, since=since, error_type=error_type,
                                          limit=limit)
    return [FailedCommandOut.model_validate(r, from_attributes=True) for r in rows]


# --- dispatch log ----------------------------------------------------------------------------


class DeliveryOut(BaseModel):
    message_id: int
    status: str
    attempts: int
    last_error: str
    error_reason: str
    delivery_status: str | None
    sent_at: datetime | None


class DispatchOut(BaseModel):
    id: int
    created_at: datetime
    command_id: int | None
    route_name: str
    provider: str
    fallback: bool
    action: str
    channel_id: int
    chat_id: str
    text: str
    order_ids: list[str]
    external_ids: list[Any]
    delivery: DeliveryOut | None


def _dispatch_out(entry: logs.DispatchEntry) -> DispatchOut:
    row, message = entry.dispatch, entry.message
    delivery = None
    if message is not None:
        delivery = DeliveryOut(message_id=message.id, status=message.status,
                               attempts=message.attempts, last_error=message.last_error,
                               error_reason=message.error_reason,
                               delivery_status=message.delivery_status, sent_at=message.sent_at)
    return DispatchOut(id=row.id, created_at=row.created_at, command_id=row.command_id,
                       route_name=row.route_name, provider=row.provider, fallback=row.fallback,
                       action=row.action, channel_id=row.channel_id, chat_id=row.chat_id,
                       text=row.text, order_ids=entry.order_ids,
                       external_ids=list(row.external_ids or []), delivery=delivery)


@router.get("/dispatches", response_model=list[DispatchOut])
async def list_dispatches(
    request: Request, who: Who, slug: str, limit: Limit = 100, before: Before = None,
    since: Since = None, until: Until = None,
    provider: str | None = Query(default=None, description="A route name, or the provider "
                                 "as the panel reports it."),
    order_id: str | None = None, action: str | None = None, chat_id: str | None = None,
    status: str | None = Query(default=None, description="Send status: queued, sending, "
                               "sent, failed."),
    command_id: int | None = Query(default=None, ge=1),
) -> list[DispatchOut]:
    """What went to provider groups: provider, group, text and whether it was delivered."""
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    filters = logs.DispatchFilters(since, until, provider, order_id, action, chat_id, status,
                                   command_id)
    async with ctx.db.session(ws.id) as session:
        rows = await logs.dispatches(session, filters, limit=limit, before=before)
    return [_dispatch_out(r) for r in rows]


@router.get("/dispatches/{dispatch_id}", response_model=DispatchOut)
async def get_dispatch(request: Request, who: Who, slug: str, dispatch_id: int) -> DispatchOut:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.session(ws.id) as session:
        return _dispatch_out(await logs.dispatch(session, dispatch_id))


# --- cooldowns -------------------------------------------------------------------------------


class CooldownOut(BaseModel):
    id: int
    order_id: str
    action: str
    until: datetime
    active: bool
    hits: int
    requested_by: str
    command_id: int | None
    created_at: datetime
    chat_id: str | None = Field(default=None, description="The chat of the command that set "
                                "it.")
    username: str | None = None


@router.get("/cooldowns", response_model=list[CooldownOut])
async def list_cooldowns(
    request: Request, who: Who, slug: str, limit: Limit = 100, before: Before = None,
    order_id: str | None = None, action: str | None = None, active: bool | None = None,
    requested_by: str | None = Query(default=None, description="A username or source that "
                                     "set it, or the chat id it came from."),
    since: Since = None, until: Until = None,
) -> list[CooldownOut]:
    """Cooldown records: which order and action, until when, and how many requests it held.
    ``since``/``until`` select by when the cooldown was set."""
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    filters = logs.CooldownFilters(order_id, action, active, requested_by, since, until)
    async with ctx.db.session(ws.id) as session:
        rows = await logs.cooldowns(session, filters, limit=limit, before=before)
        return [CooldownOut(id=r.id, order_id=c.order_id, action=c.action, until=c.until,
                            active=r.active, hits=c.hits, requested_by=c.requested_by,
                            command_id=c.command_id, created_at=c.created_at,
                            chat_id=r.chat_id, username=r.username)
                for r in rows for c in (r.cooldown,)]


@router.delete("/cooldowns/{cooldown_id}", status_code=204)
async def clear_cooldown(request: Request, who: Who, slug: str, cooldown_id: int) -> Response:
    """End a cooldown now (the customer may ask again at once)."""
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        await logs.clear_cooldown(session, cooldown_id)
    return Response(status_code=204)


# --- panel tickets and panel calls -------------------------------------------------------------


class TicketOut(BaseModel):
    id: int
    ticket_id: str
    username: str
    subject: str
    message: str
    action: str | None
    order_ids: list[Any]
    status: str
    command_id: int | None
    reply: str
    error: str
    attempts: int
    created_at: datetime
    replied_at: datetime | None


def _ticket_out(row: PanelTicketLog) -> TicketOut:
    out = TicketOut.model_validate(row, from_attributes=True)
    out.error = logs.mask_secrets(out.error)
    return out


@router.get("/panel-tickets", response_model=list[TicketOut])
async def list_tickets(request: Request, who: Who, slug: str, limit: Limit = 100,
                       before: Before = None,
                       status: str | None = Query(default=None, description="decided, "
                                                  "replied, reply_failed or skipped."),
                       username: str | None = None, ticket_id: str | None = None,
                       action: str | None = None, order_id: str | None = None,
                       since: Since = None, until: Until = None) -> list[TicketOut]:
    """Ticket activity: panel tickets the ticket rules acted on, and the replies sent."""
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    filters = logs.TicketFilters(since, until, status, username, ticket_id, action, order_id)
    async with ctx.db.session(ws.id) as session:
        rows = await logs.tickets(session, filters, limit=limit, before=before)
        return [_ticket_out(r) for r in rows]


@router.get("/panel-tickets/{log_id}", response_model=TicketOut)
async def get_ticket(request: Request, who: Who, slug: str, log_id: int) -> TicketOut:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.session(ws.id) as session:
        return _ticket_out(await logs.ticket(session, log_id))


class PanelCallOut(BaseModel):
    id: int
    created_at: datetime
    operation: str
    purpose: str
    detail: str
    ok: bool
    reason: str
    error: str
    status_code: int | None
    duration_ms: int
    command_id: int | None


def _call_out(row: PanelCall) -> PanelCallOut:
    out = PanelCallOut.model_validate(row, from_attributes=True)
    out.error, out.detail = logs.mask_secrets(out.error), logs.mask_secrets(out.detail)
    return out


@router.get("/panel-calls", response_model=list[PanelCallOut])
async def list_panel_calls(request: Request, who: Who, slug: str, limit: Limit = 100,
                           before: Before = None,
                           ok: bool | None = Query(default=None, description="true: calls "
                                                   "that worked, false: errors."),
                           operation: str | None = Query(default=None, description="get_orders"
                                                         ", get_user, list_services, "
                                                         "list_tickets, reply_ticket…"),
                           purpose: str | None = None, reason: str | None = None,
                           command_id: int | None = Query(default=None, ge=1),
                           since: Since = None, until: Until = None) -> list[PanelCallOut]:
    """Calls to the panel's API: what, how long, and the error when one failed."""
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    filters = logs.PanelCallFilters(since, until, ok, operation, purpose, reason, command_id)
    async with ctx.db.session(ws.id) as session:
        rows = await logs.panel_calls(session, filters, limit=limit, before=before)
        return [_call_out(r) for r in rows]


@router.get("/panel-calls/{call_id}", response_model=PanelCallOut)
async def get_panel_call(request: Request, who: Who, slug: str, call_id: int) -> PanelCallOut:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.session(ws.id) as session:
        return _call_out(await logs.panel_call(session, call_id))


# --- settings ----------------------------------------------------------------------------------


class SettingsOut(BaseModel):
    rules: dict[str, Any]
    aliases: dict[str, str]


class SettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    rules: dict[str, Any] | None = Field(default=None, description="Replaces the rules; "
                                         "absent fields take their defaults.")
    aliases: dict[str, str] | None = None


@router.get("/settings", response_model=SettingsOut)
async def get_settings(request: Request, who: Who, slug: str) -> SettingsOut:
    """The rules (every field, defaults included) and the aliases."""
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.session(ws.id) as session:
        rules, aliases = await admin.get_settings(session)
    return SettingsOut(rules=rules.model_dump(), aliases=aliases)


@router.put("/settings", response_model=SettingsOut)
async def put_settings(request: Request, who: Who, slug: str, body: SettingsIn) -> SettingsOut:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        await admin.set_settings(session, ws.id, rules=body.rules, aliases=body.aliases)
        rules, aliases = await admin.get_settings(session)
    return SettingsOut(rules=rules.model_dump(), aliases=aliases)


class AliasesOut(BaseModel):
    builtin: dict[str, list[str]] = Field(description="Words every workspace understands, "
                                          "by command.")
    aliases: dict[str, str] = Field(description="This workspace's own words -> command.")


class AliasIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    command: str = Field(max_length=20, description="speed, cancel, refill, status, balance, "
                         "help, commands, link, unlink or order")


async def _aliases_out(session: Any) -> AliasesOut:
    from panelpilot.orders.grammar import builtin_aliases

    _, aliases = await admin.get_settings(session)
    return AliasesOut(builtin={k: list(v) for k, v in builtin_aliases().items()},
                      aliases=aliases)


@router.get("/aliases", response_model=AliasesOut)
async def get_aliases(request: Request, who: Who, slug: str) -> AliasesOut:
    """The built-in words and the workspace's own (``PUT /settings`` replaces them all)."""
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.session(ws.id) as session:
        return await _aliases_out(session)


@router.put("/aliases/{word}", response_model=AliasesOut)
async def put_alias(request: Request, who: Who, slug: str, word: str,
                    body: AliasIn) -> AliasesOut:
    """Add one word (any language, several words allowed) or point it at another command."""
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        await admin.set_alias(session, ws.id, word, body.command)
        return await _aliases_out(session)


@router.delete("/aliases/{word}", status_code=204)
async def delete_alias(request: Request, who: Who, slug: str, word: str) -> Response:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        if not await admin.remove_alias(session, ws.id, word):
            raise NotFound("no such alias")
    return Response(status_code=204)


# --- provider routes -------------------------------------------------------------------------


class GroupRef(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: str = Field(max_length=63)
    chat: str = Field(max_length=128)


class RouteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=100)
    match: list[str] = Field(default_factory=list, description="Provider names, domains, "
                             "API-key labels and aliases as the panel reports them.")
    group: GroupRef | None = None
    commands: dict[str, str] = Field(default_factory=dict,
                                     description="action -> template, default "
                                                 "'{external_id} {action}'")
    bulk: bool = True


class RouteOut(BaseModel):
    id: int
    name: str
    match: list[Any]
    group: dict[str, Any] | None
    commands: dict[str, Any]
    bulk: bool
    source: str


async def _route_out(session: Any, r: ProviderRoute) -> RouteOut:
    group = None
    if r.channel_id and r.chat_id:
        key = (await session.execute(select(ChannelAccount.key).where(
            ChannelAccount.id == r.channel_id))).scalar()
        group = {"channel": key, "channel_id": r.channel_id, "chat": r.chat_id}
    return RouteOut(id=r.id, name=r.name, match=list(r.match or []), group=group,
                    commands=dict(r.commands or {}), bulk=r.bulk, source=r.source)


def _route_in(body: RouteBody) -> admin.RouteIn:
    return admin.RouteIn(body.name, body.match, body.group.channel if body.group else None,
                         body.group.chat if body.group else None, body.commands, body.bulk)


@router.get("/providers", response_model=list[RouteOut])
async def list_routes(request: Request, who: Who, slug: str) -> list[RouteOut]:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.session(ws.id) as session:
        rows = (await session.execute(select(ProviderRoute).order_by(ProviderRoute.name)))
        return [await _route_out(session, r) for r in rows.scalars()]


@router.post("/providers", response_model=RouteOut, status_code=201)
async def create_route(request: Request, who: Who, slug: str, body: RouteBody) -> RouteOut:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        route = await admin.save_route(session, ws.id, _route_in(body))
        return await _route_out(session, route)


@router.get("/providers/{route_id}", response_model=RouteOut)
async def get_route(request: Request, who: Who, slug: str, route_id: int) -> RouteOut:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.session(ws.id) as session:
        return await _route_out(session, await admin.get_route(session, route_id))


@router.put("/providers/{route_id}", response_model=RouteOut)
async def put_route(request: Request, who: Who, slug: str, route_id: int,
                    body: RouteBody) -> RouteOut:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        route = await admin.get_route(session, route_id)
        route = await admin.save_route(session, ws.id, _route_in(body), route)
        return await _route_out(session, route)


@router.delete("/providers/{route_id}", status_code=204)
async def delete_route(request: Request, who: Who, slug: str, route_id: int) -> Response:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        await admin.delete_route(session, await admin.get_route(session, route_id))
    return Response(status_code=204)


class PreviewIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    commands: dict[str, str] = Field(default_factory=dict)
    bulk: bool = True
    provider: str = Field(default="", max_length=200)


class PreviewOut(BaseModel):
    action: str
    template: str
    default: bool
    one: str = Field(description="The message for one order.")
    two: str | None = Field(description="Two orders in one message (null: bulk is off).")
    problem: str = Field(description="Why saving this template would be refused.")


@router.post("/providers/preview", response_model=list[PreviewOut])
async def preview_route(request: Request, who: Who, slug: str,
                        body: PreviewIn) -> list[PreviewOut]:
    """What a provider group would receive for each action with these command templates,
    for sample orders (EXT-99812, EXT-99813); nothing is saved or sent."""
    ctx = context(request)
    # Owners only, as everything that takes a route's settings (agents read routes).
    await workspace_for(ctx, who, slug, write=True)
    return [PreviewOut(**vars(p)) for p in
            admin.preview_commands(body.commands, body.bulk, body.provider)]


# --- linked chats and support chats -------------------------------------------------------------


class ChatIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channel: str = Field(max_length=63, description="The channel's key.")
    chat: str = Field(max_length=128, description="The platform's chat id (a WhatsApp number "
                      "may be given without @c.us).")


class LinkIn(ChatIn):
    username: str = Field(max_length=100)


class LinkOut(BaseModel):
    id: int
    chat_pk: int
    channel: str
    chat_id: str
    chat_type: str
    title: str
    username: str
    source: str = Field(description="file (workspace apply), api (console or API), support "
                        "(a support chat's link command), self (the customer's one-time "
                        "code), demo.")
    linked_by: str
    created_at: datetime
    managed_by_file: bool = Field(description="Made by `workspace apply`: the next apply "
                                  "puts it back as the file says.")


class LinkHistoryOut(BaseModel):
    at: datetime
    what: str
    by: str
    outcome: str
    command_id: int | None


class LinkDetailOut(LinkOut):
    commands: list[CommandOut] = Field(description="The chat's last commands, newest first.")
    history: list[LinkHistoryOut] = Field(description="Link requests, codes, support-chat "
                                          "link commands and the current link, newest first.")


def _link_out(row: linked_chats.LinkRow) -> LinkOut:
    return LinkOut(**row.as_dict())


@router.get("/linked-chats", response_model=list[LinkOut])
async def list_links(request: Request, who: Who, slug: str, limit: Limit = 100,
                     before: Before = None, username: str | None = None,
                     q: str | None = Query(default=None, description="Part of a username, "
                                           "chat id or chat title."),
                     channel: str | None = Query(default=None, description="A channel's key."),
                     source: str | None = Query(default=None, description="file, api, "
                                                "support, self or demo.")) -> list[LinkOut]:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.session(ws.id) as session:
        rows = await linked_chats.list_links(session, q=q or "", username=username or "",
                                             channel=channel or "", source=source or "",
                                             before=before, limit=limit)
    return [_link_out(r) for r in rows]


@router.post("/linked-chats", response_model=LinkOut, status_code=201)
async def create_link(request: Request, who: Who, slug: str, body: LinkIn) -> LinkOut:
    """Link a chat to a panel username (replacing its earlier link)."""
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        link = await admin.link_chat(session, ws.id, body.channel, body.chat, body.username,
                                     by=f"API token {who.name}")
        return _link_out(await linked_chats.link_by_id(session, link.id))


@router.get("/linked-chats/{link_id}", response_model=LinkDetailOut)
async def get_link(request: Request, who: Who, slug: str, link_id: int) -> LinkDetailOut:
    """One link with the chat's last commands and its link history."""
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.session(ws.id) as session:
        row = await linked_chats.link_by_id(session, link_id)
        detail = await linked_chats.chat_link(session, row.chat_pk)
    commands = []
    for c in detail.commands:
        out = CommandOut.model_validate(c, from_attributes=True)
        out.orders = [CommandOrderOut.model_validate(i, from_attributes=True)
                      for i in detail.orders.get(c.id, [])]
        commands.append(out)
    return LinkDetailOut(
        **row.as_dict(), commands=commands,
        history=[LinkHistoryOut(**h.as_dict()) for h in detail.history])


@router.delete("/linked-chats/{link_id}", status_code=204)
async def delete_link(request: Request, who: Who, slug: str, link_id: int) -> Response:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        row = await linked_chats.link_by_id(session, link_id)
        chat = await session.get(Chat, row.chat_pk)
        if chat is not None:
            await linking.unlink(session, chat)
    return Response(status_code=204)


class SupportIn(ChatIn):
    fallback: bool = False


class SupportOut(BaseModel):
    id: int
    chat_pk: int
    channel: str
    chat_id: str
    title: str
    fallback: bool
    source: str


def _support_query() -> Select:
    return (select(SupportChat, Chat, ChannelAccount.key)
            .join(Chat, Chat.id == SupportChat.chat_pk)
            .join(ChannelAccount, ChannelAccount.id == Chat.channel_id))


def _support_out(row: SupportChat, chat: Chat, key: str) -> SupportOut:
    return SupportOut(id=row.id, chat_pk=chat.id, channel=key, chat_id=chat.chat_id,
                      title=chat.title, fallback=row.fallback, source=row.source)


@router.get("/support-chats", response_model=list[SupportOut])
async def list_support(request: Request, who: Who, slug: str) -> list[SupportOut]:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.session(ws.id) as session:
        rows = (await session.execute(_support_query().order_by(SupportChat.id))).all()
    return [_support_out(*r) for r in rows]


@router.post("/support-chats", response_model=SupportOut, status_code=201)
async def add_support(request: Request, who: Who, slug: str, body: SupportIn) -> SupportOut:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        row = await admin.add_support_chat(session, ws.id, body.channel, body.chat,
                                           body.fallback)
        found = (await session.execute(_support_query().where(SupportChat.id == row.id))).one()
    return _support_out(*found)


@router.delete("/support-chats/{support_id}", status_code=204)
async def delete_support(request: Request, who: Who, slug: str, support_id: int) -> Response:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        await admin.remove_support_chat(session, support_id)
    return Response(status_code=204)


# --- services ----------------------------------------------------------------------------------


class ServiceOut(BaseModel):
    service_id: str
    name: str | None
    category: str | None
    refill_button: bool | None
    cancel_button: bool | None
    start: str
    start_from: str
    refill: str
    refill_from: str
    evidence: list[str]
    override: dict[str, Any] | None
    refreshed_at: datetime | None


class ServiceRuleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: str | None = Field(default=None, description="'instant', '0-1 hour', '30 min' …")
    refill: str | int | None = Field(default=None, description="days, 'lifetime' or 'none'")
    note: str = Field(default="", max_length=300)


@router.get("/services", response_model=list[ServiceOut])
async def list_services(request: Request, who: Who, slug: str, limit: Limit = 100,
                        after: str | None = Query(default=None, description="Next page: "
                                                  "services after this id."),
                        q: str | None = Query(default=None, description="Part of the "
                                              "service's id or name."),
                        show: str | None = Query(default=None, description="Only services "
                                                 "whose start window is unknown "
                                                 "(unknown_start), whose refill policy is "
                                                 "unknown (unknown_refill), or that have a "
                                                 "rule (overridden).")) -> list[ServiceOut]:
    """The cached catalogue, each service's start window and refill policy, and where from."""
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.session(ws.id) as session:
        rows = await admin.services_view(session, q=q, limit=limit, after=after, show=show)
    return [ServiceOut(**r) for r in rows]


class ServicesStatusOut(BaseModel):
    refreshed_at: datetime | None = Field(description="The last successful refresh.")
    checked_at: datetime | None = Field(description="The last attempt.")
    error: str = Field(description="Why the last attempt failed (empty: it worked).")
    services: int
    overrides: int


@router.get("/services/status", response_model=ServicesStatusOut)
async def services_status(request: Request, who: Who, slug: str) -> ServicesStatusOut:
    """When the catalogue was last read from the panel, and the last error."""
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.session(ws.id) as session:
        return ServicesStatusOut(**await admin.services_status(session))


@router.put("/services/{service_id}/rule", response_model=ServiceOut)
async def put_service_rule(request: Request, who: Who, slug: str, service_id: str,
                           body: ServiceRuleIn) -> ServiceOut:
    """Override what a service's name says (start window, refill policy, or both)."""
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        await admin.set_service_rule(session, ws.id, service_id, start=body.start,
                                     refill=body.refill, note=body.note)
        rows = await admin.services_view(session, q=None, limit=100_000, after=None)
    return ServiceOut(**next(r for r in rows if r["service_id"] == service_id))


@router.delete("/services/{service_id}/rule", status_code=204)
async def delete_service_rule(request: Request, who: Who, slug: str,
                              service_id: str) -> Response:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    async with ctx.db.session(ws.id) as session:
        await admin.delete_service_rule(session, service_id)
    return Response(status_code=204)


@router.post("/services/refresh")
async def refresh_services(request: Request, who: Who, slug: str) -> dict[str, Any]:
    """Read the panel's catalogue now (the runner does it every few hours)."""
    from panelpilot.orders.services import refresh_services as refresh

    ctx = context(request)
    ws = await workspace_for(ctx, who, slug, write=True)
    return await refresh(ctx, ws.id)


# --- dry run ---------------------------------------------------------------------------------


class CheckIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=4000, description="The message, e.g. '2274209 refill'.")
    username: str | None = Field(default=None, max_length=100,
                                 description="As this linked customer; leave out to act as "
                                             "a support chat (any order).")


@router.post("/check")
async def check_command(request: Request, who: Who, slug: str, body: CheckIn) -> dict[str, Any]:
    """What a message would do: each order's verdict, the answer and the provider commands.
    The panel is asked for real; nothing is claimed, dispatched or logged."""
    ctx = context(request)
    # Owners only: it calls the panel for real, like the connection test.
    ws = await workspace_for(ctx, who, slug, write=True)
    return await admin.dry_run(ctx, ws.id, body.text, body.username)


class TestRunIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=testrun.MAX_TEXT, description="The message, e.g. "
                      "'2274209 refill'.")
    username: str | None = Field(default=None, max_length=100,
                                 description="As this linked customer; leave out to act as "
                                             "a support chat (any order).")


class TestRunOut(BaseModel):
    id: int
    created_at: datetime
    run_by: str
    username: str | None = Field(description="None: run as a support chat.")
    text: str
    passed: bool = Field(description="Read as an order command, the panel answered, an order "
                         "was allowed and a command would go to a provider group.")
    summary: str
    result: dict[str, Any] = Field(description="How the text was read (kind, action, "
                                   "order_ids, corrected_from, suggestion), each order's "
                                   "verdict with its checks, the customer's answer and the "
                                   "provider commands (dispatches).")


@router.post("/test-runs", response_model=TestRunOut, status_code=201)
async def create_test_run(request: Request, who: Who, slug: str,
                          body: TestRunIn) -> TestRunOut:
    """Run a command through the real checks and keep the run (the console's test console).
    The panel is asked for real; no cooldown is taken and nothing is sent."""
    ctx = context(request)
    # Owners only: it calls the panel for real, like the connection test.
    ws = await workspace_for(ctx, who, slug, write=True)
    row = await testrun.run_test(ctx, ws.id, text=body.text, username=body.username,
                                 run_by=f"API token {who.name}")
    return TestRunOut(**testrun.as_dict(row))


@router.get("/test-runs", response_model=list[TestRunOut])
async def list_test_runs(request: Request, who: Who, slug: str, limit: Limit = 100,
                         before: Before = None, passed: bool | None = None
                         ) -> list[TestRunOut]:
    """Earlier test runs, newest first."""
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.session(ws.id) as session:
        rows = await testrun.recent_runs(session, limit=limit, before=before, passed=passed)
    return [TestRunOut(**testrun.as_dict(r)) for r in rows]


@router.get("/test-runs/{run_id}", response_model=TestRunOut)
async def get_test_run(request: Request, who: Who, slug: str, run_id: int) -> TestRunOut:
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.session(ws.id) as session:
        return TestRunOut(**testrun.as_dict(await testrun.get_run(session, run_id)))


# --- analytics -------------------------------------------------------------------------------


class CountOut(BaseModel):
    label: str
    count: int


class ProviderCountOut(BaseModel):
    label: str
    fallback: bool
    dispatches: int
    failed: int


class DayOut(BaseModel):
    day: date
    commands: int
    failed: int


class AlertOut(BaseModel):
    kind: str
    title: str
    count: int
    first_seen: datetime
    last_seen: datetime
    window_hours: int
    channel_id: int | None
    channel_key: str | None
    chat_id: str
    chat_pk: int | None
    chat_title: str
    username: str | None


class AnalyticsOut(BaseModel):
    days: int
    since: datetime
    until: datetime
    linked_chats: int
    linked_usernames: int
    active_chats_today: int
    commands_today: int
    commands_month: int
    commands: int
    failed: int
    failure_rate: float
    unrecognized: int
    api_problems: int
    avg_latency_ms: float | None
    p95_latency_ms: int | None
    dispatches: int
    cooldown_hits: int
    active_cooldowns: int
    actions: list[CountOut]
    verdicts: list[CountOut]
    providers: list[ProviderCountOut]
    daily: list[DayOut]
    failed_commands: list[FailedCommandOut]
    alerts: list[AlertOut]


@router.get("/analytics", response_model=AnalyticsOut)
async def get_analytics(
    request: Request, who: Who, slug: str,
    days: int = Query(default=analytics.DEFAULT_DAYS, ge=1, le=analytics.MAX_DAYS,
                      description="The period: the last N days (UTC), today included."),
) -> AnalyticsOut:
    """The Analytics page's figures: commands, failures, response times, actions, providers,
    cooldown hits, commands per day, the most frequent failed commands and suspicious chats."""
    ctx = context(request)
    ws = await workspace_for(ctx, who, slug)
    async with ctx.db.read_session(ws.id) as session:
        figures = await analytics.figures(session, days)
    return AnalyticsOut.model_validate(figures, from_attributes=True)

"""The order-support logs as queries: commands with each order's verdict, failed commands,
dispatches with their delivery, cooldowns (and clearing one), panel tickets and panel API calls.

The JSON API (``orders.api``) and the console's log pages both call these, in a session scoped
to the workspace. Every list takes its filters as one dataclass and pages on descending ids:
``limit`` rows with an id below ``before``. Nothing here reads a secret; texts that came from a
panel still go through ``mask_secrets`` in case an adapter ever lets a key slip into a message.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import String, cast, exists, func, not_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.chats.models import Chat
from panelpilot.db.base import utcnow
from panelpilot.errors import NotFound
from panelpilot.inbox.models import InboundEvent
from panelpilot.orders.models import (
    CommandLog,
    CommandOrder,
    Dispatch,
    OrderCooldown,
    PanelCall,
    PanelTicketLog,
)
from panelpilot.outbox.models import OutboundAttempt, OutboundMessage

# Per-order verdicts (see orders.workflow.Verdict), as admins read them.
VERDICTS = {
    "sent": "Sent to the provider",
    "status": "Status shown",
    "not_found": "Order not found",
    "not_yours": "Not the customer's order",
    "not_eligible": "Not eligible",
    "too_early": "Start time not passed",
    "cooldown": "Cooling down",
    "provider_missing": "No external id",
    "route_missing": "No provider route",
}
ALLOWED = ("sent", "status")
REFUSED = tuple(v for v in VERDICTS if v not in ALLOWED)
# ``verdict`` also takes these groups.
VERDICT_GROUPS = {"allowed": ALLOWED, "refused": REFUSED}
ERROR_TYPES = {
    "typo": "Typo (close to a command)",
    "unrecognized": "Unrecognized",
    "missing_ids": "Action without order ids",
    "missing_action": "Order ids without an action",
}
ANY_ERROR = "any"  # error_type=any: every command with an error type
SOURCES = {"chat": "Customer chat", "support": "Support chat", "ticket": "Panel ticket",
           "console": "Console"}
ACTIONS = ("refill", "speed", "cancel", "status", "balance", "help", "link", "unlink", "order")
SEND_STATUSES = ("queued", "sending", "sent", "failed")
TICKET_STATUSES = {"decided": "Decided, reply pending", "replied": "Replied",
                   "reply_failed": "Reply failed", "skipped": "Skipped"}

_SECRET = re.compile(
    r"(?i)\b((?:x-)?api[_-]?key|key|token|secret|password|passwd|authorization)"
    r"(\s*[=:]\s*|\s+)(bearer\s+)?[^\s&\"',;]{4,}")


def mask_secrets(text: str) -> str:
    """``key=abc123…``, ``X-Api-Key: …``, ``token=…`` with the value replaced by ``***``."""
    return _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3) or ''}***", text or "")


def _times(query: Any, column: Any, since: datetime | None, until: datetime | None) -> Any:
    if since is not None:
        query = query.where(column >= since)
    if until is not None:
        query = query.where(column < until)
    return query


def _page(query: Any, column: Any, limit: int, before: int | None) -> Any:
    query = query.order_by(column.desc()).limit(limit)
    return query.where(column < before) if before else query


def _ci(column: Any, value: str) -> Any:
    return func.lower(column) == value.lower()


async def chat_titles(session: AsyncSession, pairs: set[tuple[int | None, str | None]]
                      ) -> dict[tuple[int, str], str]:
    """The titles of chats, by (channel id, chat id), for the chats a page shows."""
    ids = {c for ch, c in pairs if ch is not None and c}
    if not ids:
        return {}
    rows = await session.execute(select(Chat.channel_id, Chat.chat_id, Chat.title)
                                 .where(Chat.chat_id.in_(ids)))
    return {(ch, c): t for ch, c, t in rows.all() if t}


# --- commands --------------------------------------------------------------------------------


@dataclass
class CommandFilters:
    since: datetime | None = None
    until: datetime | None = None
    chat_id: str | None = None
    username: str | None = None  # case-insensitive
    order_id: str | None = None  # commands that named this order
    verdict: str | None = None  # a verdict, or "allowed" / "refused"
    kind: str | None = None
    action: str | None = None
    source: str | None = None
    outcome: str | None = None
    error_type: str | None = None  # an error type, or "any"


@dataclass
class CommandEntry:
    command: CommandLog
    orders: list[CommandOrder]

    @property
    def id(self) -> int:
        return self.command.id


def _command_query(f: CommandFilters) -> Any:
    query = _times(select(CommandLog), CommandLog.created_at, f.since, f.until)
    for column, value in ((CommandLog.chat_id, f.chat_id), (CommandLog.kind, f.kind),
                          (CommandLog.action, f.action), (CommandLog.source, f.source),
                          (CommandLog.outcome, f.outcome)):
        if value:
            query = query.where(column == value)
    if f.username:
        query = query.where(_ci(CommandLog.username, f.username))
    if f.error_type == ANY_ERROR:
        query = query.where(CommandLog.error_type.is_not(None))
    elif f.error_type:
        query = query.where(CommandLog.error_type == f.error_type)
    item = [CommandOrder.command_id == CommandLog.id]
    if f.verdict in VERDICT_GROUPS:
        item.append(CommandOrder.verdict.in_(VERDICT_GROUPS[f.verdict]))
    elif f.verdict:
        item.append(CommandOrder.verdict == f.verdict)
    if f.order_id:
        named = exists().where(*item, CommandOrder.order_id == f.order_id)
        if f.verdict:
            query = query.where(named)
        else:
            # A command that ended before any verdict (the panel could not be asked, too many
            # ids, no action) still named the order: its text says so.
            no_verdicts = not_(exists().where(CommandOrder.command_id == CommandLog.id))
            query = query.where(or_(named, no_verdicts & CommandLog.text.contains(
                f.order_id, autoescape=True)))
    elif f.verdict:
        query = query.where(exists().where(*item))
    return query


async def _orders_of(session: AsyncSession, ids: list[int]) -> dict[int, list[CommandOrder]]:
    out: dict[int, list[CommandOrder]] = {}
    if not ids:
        return out
    for item in (await session.execute(
            select(CommandOrder).where(CommandOrder.command_id.in_(ids))
            .order_by(CommandOrder.id))).scalars():
        out.setdefault(item.command_id, []).append(item)
    return out


async def commands(session: AsyncSession, f: CommandFilters, *, limit: int,
                   before: int | None = None) -> list[CommandEntry]:
    """The command log, newest first: who asked what, and each order's verdict."""
    rows = list((await session.execute(
        _page(_command_query(f), CommandLog.id, limit, before))).scalars())
    items = await _orders_of(session, [r.id for r in rows])
    return [CommandEntry(r, items.get(r.id, [])) for r in rows]


@dataclass
class DispatchEntry:
    dispatch: Dispatch
    message: OutboundMessage | None

    @property
    def id(self) -> int:
        return self.dispatch.id

    @property
    def order_ids(self) -> list[str]:
        return [i for i in self.dispatch.order_ids.split(",") if i]


@dataclass
class CommandDetail:
    """A command and everything it led to or came from."""

    command: CommandLog
    orders: list[CommandOrder]
    dispatches: list[DispatchEntry] = field(default_factory=list)
    replies: list[OutboundMessage] = field(default_factory=list)  # the answers in the chat
    event: InboundEvent | None = None  # the message it came from
    calls: list[PanelCall] = field(default_factory=list)
    ticket: PanelTicketLog | None = None  # the panel ticket it came from


async def command(session: AsyncSession, command_id: int) -> CommandEntry:
    row = (await session.execute(
        select(CommandLog).where(CommandLog.id == command_id))).scalar()
    if row is None:
        raise NotFound("no such command")
    return CommandEntry(row, (await _orders_of(session, [row.id])).get(row.id, []))


async def command_detail(session: AsyncSession, command_id: int) -> CommandDetail:
    entry = await command(session, command_id)
    row = entry.command
    detail = CommandDetail(row, entry.orders)
    detail.dispatches = await dispatches(session, DispatchFilters(command_id=row.id),
                                         limit=500)
    detail.dispatches.reverse()
    if row.event_id is not None:
        detail.event = (await session.execute(
            select(InboundEvent).where(InboundEvent.id == row.event_id))).scalar()
        detail.replies = list((await session.execute(
            select(OutboundMessage).where(OutboundMessage.source_event_id == row.event_id,
                                          OutboundMessage.purpose != "dispatch")
            .order_by(OutboundMessage.id))).scalars())
    detail.calls = await panel_calls(session, PanelCallFilters(command_id=row.id), limit=500)
    detail.calls.reverse()
    if row.ticket_id is not None:
        detail.ticket = (await session.execute(
            select(PanelTicketLog).where(PanelTicketLog.ticket_id == row.ticket_id))).scalar()
    return detail


@dataclass
class FailedCommand:
    text: str
    error_type: str | None
    suggestion: str | None
    occurrences: int
    chats: int
    last_seen: datetime


async def failed_commands(session: AsyncSession, *, since: datetime | None = None,
                          error_type: str | None = None, limit: int = 100
                          ) -> list[FailedCommand]:
    """Messages nobody understood, most frequent first, with the command they were close to."""
    last = func.max(CommandLog.created_at)
    query = (select(CommandLog.text, CommandLog.error_type, func.max(CommandLog.suggestion),
                    func.count(), func.count(func.distinct(CommandLog.chat_id)), last)
             .where(CommandLog.kind == "unrecognized")
             .group_by(CommandLog.text, CommandLog.error_type)
             .order_by(func.count().desc(), last.desc()).limit(limit))
    query = _times(query, CommandLog.created_at, since, None)
    if error_type:
        query = query.where(CommandLog.error_type == error_type)
    return [FailedCommand(*r) for r in (await session.execute(query)).all()]


# --- dispatches ------------------------------------------------------------------------------


@dataclass
class DispatchFilters:
    since: datetime | None = None
    until: datetime | None = None
    provider: str | None = None  # route name or provider as the panel reports it
    order_id: str | None = None
    action: str | None = None
    chat_id: str | None = None
    status: str | None = None  # the outbox's send status
    command_id: int | None = None


def _with_delivery() -> Any:
    return select(Dispatch, OutboundMessage).outerjoin(
        OutboundMessage, OutboundMessage.id == Dispatch.message_id)


async def dispatches(session: AsyncSession, f: DispatchFilters, *, limit: int,
                     before: int | None = None) -> list[DispatchEntry]:
    """What went to provider groups, newest first, with the delivery of each message."""
    query = _times(_with_delivery(), Dispatch.created_at, f.since, f.until)
    if f.provider:
        query = query.where(_ci(Dispatch.route_name, f.provider)
                            | _ci(Dispatch.provider, f.provider))
    if f.order_id:
        query = query.where(Dispatch.order_ids.contains(f",{f.order_id},", autoescape=True))
    for column, value in ((Dispatch.action, f.action), (Dispatch.chat_id, f.chat_id),
                          (OutboundMessage.status, f.status),
                          (Dispatch.command_id, f.command_id)):
        if value:
            query = query.where(column == value)
    rows = (await session.execute(_page(query, Dispatch.id, limit, before))).all()
    return [DispatchEntry(d, m) for d, m in rows]


async def dispatch(session: AsyncSession, dispatch_id: int) -> DispatchEntry:
    row = (await session.execute(_with_delivery().where(Dispatch.id == dispatch_id))).first()
    if row is None:
        raise NotFound("no such dispatch")
    return DispatchEntry(row[0], row[1])


async def delivery_attempts(session: AsyncSession, message_id: int | None
                            ) -> list[OutboundAttempt]:
    if message_id is None:
        return []
    return list((await session.execute(
        select(OutboundAttempt).where(OutboundAttempt.message_id == message_id)
        .order_by(OutboundAttempt.id))).scalars())


async def providers_seen(session: AsyncSession, limit: int = 50) -> list[str]:
    """Route names and providers that dispatches went to (for a filter's suggestions)."""
    recent = select(Dispatch.route_name, Dispatch.provider).order_by(Dispatch.id.desc()) \
        .limit(500).subquery()
    names: set[str] = set()
    for route, provider in (await session.execute(select(recent))).all():
        names.update(n for n in (route, provider) if n)
    return sorted(names, key=str.lower)[:limit]


# --- cooldowns -------------------------------------------------------------------------------


@dataclass
class CooldownFilters:
    order_id: str | None = None
    action: str | None = None
    active: bool | None = None
    who: str | None = None  # the username (or source) that set it, or the chat it came from
    since: datetime | None = None  # set at or after
    until: datetime | None = None  # set before


@dataclass
class CooldownEntry:
    cooldown: OrderCooldown
    active: bool
    chat_id: str | None  # the chat of the command that set it
    channel_id: int | None
    username: str | None

    @property
    def id(self) -> int:
        return self.cooldown.id


async def cooldowns(session: AsyncSession, f: CooldownFilters, *, limit: int,
                    before: int | None = None, now: datetime | None = None
                    ) -> list[CooldownEntry]:
    """Cooldown records, newest first: which order and action, until when, how often hit."""
    now = now or utcnow()
    query = (select(OrderCooldown, CommandLog.chat_id, CommandLog.channel_id,
                    CommandLog.username)
             .outerjoin(CommandLog, CommandLog.id == OrderCooldown.command_id))
    query = _times(query, OrderCooldown.created_at, f.since, f.until)
    if f.order_id:
        query = query.where(OrderCooldown.order_id == f.order_id)
    if f.action:
        query = query.where(OrderCooldown.action == f.action)
    if f.active is not None:
        query = query.where(OrderCooldown.until > now if f.active
                            else OrderCooldown.until <= now)
    if f.who:
        query = query.where(_ci(OrderCooldown.requested_by, f.who)
                            | (CommandLog.chat_id == f.who) | _ci(CommandLog.username, f.who))
    rows = (await session.execute(_page(query, OrderCooldown.id, limit, before))).all()
    return [CooldownEntry(c, c.until > now, chat, channel, user)
            for c, chat, channel, user in rows]


async def active_cooldowns(session: AsyncSession, now: datetime | None = None) -> int:
    return int((await session.execute(
        select(func.count()).select_from(OrderCooldown)
        .where(OrderCooldown.until > (now or utcnow())))).scalar_one())


async def clear_cooldown(session: AsyncSession, cooldown_id: int) -> OrderCooldown:
    """End a cooldown now: the customer may ask again at once. Returns the removed row."""
    row = (await session.execute(
        select(OrderCooldown).where(OrderCooldown.id == cooldown_id))).scalar()
    if row is None:
        raise NotFound("no such cooldown")
    await session.delete(row)
    await session.flush()
    return row


# --- panel tickets ---------------------------------------------------------------------------


@dataclass
class TicketFilters:
    since: datetime | None = None
    until: datetime | None = None
    status: str | None = None
    username: str | None = None
    ticket_id: str | None = None
    action: str | None = None
    order_id: str | None = None


async def tickets(session: AsyncSession, f: TicketFilters, *, limit: int,
                  before: int | None = None) -> list[PanelTicketLog]:
    """Panel tickets the ticket rules acted on, newest first, with the replies sent."""
    query = _times(select(PanelTicketLog), PanelTicketLog.created_at, f.since, f.until)
    for column, value in ((PanelTicketLog.status, f.status),
                          (PanelTicketLog.ticket_id, f.ticket_id),
                          (PanelTicketLog.action, f.action)):
        if value:
            query = query.where(column == value)
    if f.username:
        query = query.where(_ci(PanelTicketLog.username, f.username))
    if f.order_id:
        # order_ids is a JSON list of strings; as text it holds "2274209" on both databases.
        query = query.where(cast(PanelTicketLog.order_ids, String).contains(
            f'"{f.order_id}"', autoescape=True))
    return list((await session.execute(
        _page(query, PanelTicketLog.id, limit, before))).scalars())


async def ticket(session: AsyncSession, log_id: int) -> PanelTicketLog:
    row = (await session.execute(
        select(PanelTicketLog).where(PanelTicketLog.id == log_id))).scalar()
    if row is None:
        raise NotFound("no such ticket entry")
    return row


# --- panel calls -----------------------------------------------------------------------------


@dataclass
class PanelCallFilters:
    since: datetime | None = None
    until: datetime | None = None
    ok: bool | None = None
    operation: str | None = None
    purpose: str | None = None
    reason: str | None = None
    command_id: int | None = None


async def panel_calls(session: AsyncSession, f: PanelCallFilters, *, limit: int,
                      before: int | None = None) -> list[PanelCall]:
    """Calls to the panel's API, newest first: what, how long, and why one failed."""
    query = _times(select(PanelCall), PanelCall.created_at, f.since, f.until)
    for column, value in ((PanelCall.operation, f.operation), (PanelCall.purpose, f.purpose),
                          (PanelCall.reason, f.reason), (PanelCall.command_id, f.command_id)):
        if value:
            query = query.where(column == value)
    if f.ok is not None:
        query = query.where(PanelCall.ok.is_(f.ok))
    return list((await session.execute(_page(query, PanelCall.id, limit, before))).scalars())


async def panel_call(session: AsyncSession, call_id: int) -> PanelCall:
    row = (await session.execute(select(PanelCall).where(PanelCall.id == call_id))).scalar()
    if row is None:
        raise NotFound("no such panel call")
    return row


async def panel_call_names(session: AsyncSession) -> tuple[list[str], list[str]]:
    """The operations and purposes seen in recent calls (for the filters' choices)."""
    recent = select(PanelCall.operation, PanelCall.purpose).order_by(PanelCall.id.desc()) \
        .limit(1000).subquery()
    rows = (await session.execute(select(recent))).all()
    return sorted({o for o, _ in rows if o}), sorted({p for _, p in rows if p})

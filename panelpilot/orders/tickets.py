"""Panel tickets as order commands: a runner reads each workspace's new panel tickets, turns the
ones that match its subject rules into the chat workflow (the ticket's user is the owner), and
answers on the ticket with the same compact result a chat would get.

A ticket matches when its subject is one of the rule's subjects (``Order``, ``Orders``) and its
message names a request (``Request: Refill``, ``Speed up``, ``Cancel``, or a chat-style
``2274209 refill``) and order ids. Tickets that match no rule are never touched. These are the
panel's tickets (its customers asking the panel); the SaaS's own support tickets are another
thing entirely and never pass through here.

Each ticket is decided once: its log row (unique per workspace and ticket) is written in the
same transaction as the cooldowns and dispatches, and the panel reply goes out after the commit.
A reply that fails is retried on later runs; the decision is never made twice.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any, ClassVar

from sqlalchemy import select

from panelpilot.context import Context
from panelpilot.db.base import utcnow
from panelpilot.orders.grammar import parse_command
from panelpilot.orders.models import OrderSettings, PanelTicketLog
from panelpilot.orders.panel import Panel, open_panel, write_calls
from panelpilot.orders.rules import OrderRules, TicketRules, settings_row
from panelpilot.orders.workflow import Request, commit, evaluate, load_setup, log_command
from panelpilot.panels.base import PanelError, PanelTicket, newer_than
from panelpilot.panels.connection import PanelConnection
from panelpilot.runners.base import Runner
from panelpilot.runners.lease import insert_ignore
from panelpilot.templates import service as templates

MAX_REPLY_ATTEMPTS = 5
PAGE = 50

_REQUEST = re.compile(
    r"(?im)^[\s*•-]*(?:request|requests|type|talep|istek|запрос|permintaan|solicitud)\s*[:：=-]"
    r"\s*(?P<value>.+?)\s*$")
_ID = re.compile(r"(?<![\d+.,/\-])#?([1-9]\d{2,11})(?![\d.,/\-]\d)")


def subject_matches(subject: str, rules: TicketRules) -> bool:
    wanted = {s.strip().casefold() for s in rules.subjects}
    return subject.strip().casefold() in wanted


def request_of(message: str, rules: OrderRules, aliases: dict[str, str]
               ) -> tuple[str, list[str]] | None:
    """(action, order ids) asked by a ticket message, or None when it asks for nothing we do."""
    match = _REQUEST.search(message)
    if match:
        said = match.group("value").strip().casefold()
        action = next((a for a, words in rules.tickets.requests.items()
                       if any(said == w.strip().casefold() for w in words)), None)
        if action is None:
            return None
        rest = message[:match.start()] + "\n" + message[match.end():]
        ids = list(dict.fromkeys(_ID.findall(rest)))
        return (action, ids) if ids else None
    parsed = parse_command(message, aliases=aliases, max_ids=10_000)
    if parsed.kind == "order_action" and parsed.action in ("speed", "cancel", "refill"):
        return parsed.action, parsed.order_ids
    return None


def _message_of(ticket: PanelTicket) -> str:
    # The customer's opening message is the request; staff replies (ours included) are not.
    for m in ticket.messages:
        if m.staff is not True:
            return m.text
    return ticket.first_message or ""


async def process_tickets(ctx: Context, workspace_id: int) -> dict[str, Any]:
    """One run over a workspace's new panel tickets; returns counts for the runner's health."""
    async with ctx.db.read_session(workspace_id) as session:
        setup = await load_setup(session)
        row = (await session.execute(select(OrderSettings))).scalar()
        cursor = row.ticket_cursor if row else None
        unanswered = list((await session.execute(
            select(PanelTicketLog).where(PanelTicketLog.status.in_(("decided", "reply_failed")),
                                         PanelTicketLog.attempts < MAX_REPLY_ATTEMPTS)
            .order_by(PanelTicketLog.id))).scalars())
    rules = setup.rules
    stats = {"seen": 0, "matched": 0, "answered": 0, "failed": 0}
    if not rules.tickets.enabled:
        return stats
    panel = await open_panel(ctx, workspace_id, purpose="tickets")
    if panel is None:
        return stats
    for pending in unanswered:
        await _reply(ctx, workspace_id, panel, pending.ticket_id, pending.reply, stats)
    try:
        tickets = await panel.list_tickets(since_id=cursor, limit=PAGE)
    except PanelError as exc:
        await _note(ctx, workspace_id, panel, cursor, f"{exc.reason}: {exc.message}")
        stats["failed"] += 1
        return stats
    if cursor is None:
        since = utcnow() - timedelta(hours=rules.tickets.lookback_hours)
        tickets = [t for t in tickets if t.created is None or t.created >= since]
    newest = cursor
    for ticket in tickets:
        stats["seen"] += 1
        if newest is None or newer_than(ticket.id, newest):
            newest = ticket.id
        if not subject_matches(ticket.subject, rules.tickets):
            continue  # not ours: left alone
        try:
            await _handle(ctx, workspace_id, panel, ticket, setup, stats)
        except PanelError as exc:
            # Reading it failed: stop here and come back to this ticket next run.
            await _note(ctx, workspace_id, panel, _before(ticket.id, newest, cursor),
                        f"{exc.reason}: {exc.message}")
            stats["failed"] += 1
            return stats
    await _note(ctx, workspace_id, panel, newest, "")
    return stats


def _before(ticket_id: str, newest: str | None, cursor: str | None) -> str | None:
    """The cursor to keep when ``ticket_id`` must be read again: just below it."""
    if ticket_id.isdigit():
        below = str(int(ticket_id) - 1)
        return below if cursor is None or newer_than(below, cursor) else cursor
    return cursor


async def _note(ctx: Context, workspace_id: int, panel: Panel, cursor: str | None,
                error: str) -> None:
    async with ctx.db.session(workspace_id) as session:
        row = await settings_row(session, workspace_id)
        row.ticket_cursor = cursor
        row.tickets_checked_at = utcnow()
        row.tickets_error = error[:1000]
        write_calls(session, workspace_id, panel.calls)
    panel.calls.clear()


async def _handle(ctx: Context, workspace_id: int, panel: Panel, ticket: PanelTicket,
                  setup: Any, stats: dict[str, int]) -> None:
    async with ctx.db.read_session(workspace_id) as session:
        known = (await session.execute(select(PanelTicketLog.id).where(
            PanelTicketLog.ticket_id == ticket.id))).first()
    if known is not None:
        return
    full = ticket if ticket.messages else (await panel.get_ticket(ticket.id) or ticket)
    message = _message_of(full)
    asked = request_of(message, setup.rules, setup.aliases)
    owner = full.user or ticket.user
    if asked is None or not owner:
        return  # the subject fits but it asks for nothing we do: a person will answer
    if full.messages and full.messages[-1].staff is True:
        return  # someone already answered it
    stats["matched"] += 1
    action, ids = asked
    base = {"workspace_id": workspace_id, "ticket_id": ticket.id, "username": owner[:100],
            "subject": ticket.subject[:300], "message": message[:4000], "action": action,
            "order_ids": ids[:100], "status": "decided", "reply": "", "error": "",
            "attempts": 0, "created_at": utcnow()}
    if len(ids) > setup.rules.max_ids:
        async with ctx.db.session(workspace_id) as session:
            if not await _claim_ticket(session, base):
                return
            answer = await templates.render(session, "too_many_ids",
                                            max_ids=setup.rules.max_ids, count=len(ids))
            command_id = await log_command(session, workspace_id, source="ticket",
                                           kind="too_many", text=message, outcome="too_many",
                                           reply=answer, username=owner, action=action,
                                           ticket_id=ticket.id, order_ids=ids)
            await _decided(session, ticket.id, answer, command_id)
    else:
        request = Request(action, ids, owner, "ticket", message, kind="order_action")
        plan = await evaluate(ctx, workspace_id, request, panel=panel, setup=setup)
        panel.calls.clear()  # now in the plan: logged with the command
        async with ctx.db.session(workspace_id) as session:
            if not await _claim_ticket(session, base):
                return
            outcome = await commit(session, plan, key_prefix=f"tk{ticket.id}",
                                   ticket_id=ticket.id)
            answer = outcome.answer
            await _decided(session, ticket.id, answer, outcome.command_id)
    await _reply(ctx, workspace_id, panel, ticket.id, answer, stats)


async def _claim_ticket(session: Any, values: dict[str, Any]) -> bool:
    """Insert the ticket's log row; False if another run got there first."""
    await insert_ignore(session, PanelTicketLog, values)
    row = (await session.execute(select(PanelTicketLog).where(
        PanelTicketLog.ticket_id == values["ticket_id"]))).scalar_one()
    return row.status == "decided" and not row.reply and row.command_id is None


async def _decided(session: Any, ticket_id: str, answer: str, command_id: int | None) -> None:
    row = (await session.execute(select(PanelTicketLog).where(
        PanelTicketLog.ticket_id == ticket_id))).scalar_one()
    row.reply, row.command_id = answer, command_id


async def _reply(ctx: Context, workspace_id: int, panel: Panel, ticket_id: str, answer: str,
                 stats: dict[str, int]) -> None:
    error = ""
    try:
        await panel.reply_ticket(ticket_id, answer)
    except PanelError as exc:
        error = f"{exc.reason}: {exc.message}"
    async with ctx.db.session(workspace_id) as session:
        row = (await session.execute(select(PanelTicketLog).where(
            PanelTicketLog.ticket_id == ticket_id))).scalar_one()
        row.attempts += 1
        if error:
            row.status, row.error = "reply_failed", error[:1000]
            stats["failed"] += 1
        else:
            row.status, row.error, row.replied_at = "replied", "", utcnow()
            stats["answered"] += 1
        write_calls(session, workspace_id, panel.calls, row.command_id)
    panel.calls.clear()


async def ticket_workspaces(ctx: Context) -> list[int]:
    """Workspaces whose panel can have its tickets read and whose ticket rules are on."""
    async with ctx.db.read_session() as session:
        rows = await session.execute(
            select(OrderSettings.workspace_id, OrderSettings.rules)
            .join(PanelConnection, PanelConnection.workspace_id == OrderSettings.workspace_id)
            .where(PanelConnection.panel_type == "perfectpanel")
            .order_by(OrderSettings.workspace_id))
        out = []
        for workspace_id, rules in rows.all():
            try:
                enabled = OrderRules.model_validate(rules or {}).tickets.enabled
            except ValueError:
                enabled = False
            if enabled:
                out.append(workspace_id)
        return out


class PanelTicketsRunner(Runner):
    name = "orders-panel-tickets"
    interval = 30.0

    max_per_tick: ClassVar[int] = 50

    async def tick(self, ctx: Context) -> dict[str, Any] | None:
        totals = {"workspaces": 0, "seen": 0, "matched": 0, "answered": 0, "failed": 0}
        for workspace_id in (await ticket_workspaces(ctx))[:self.max_per_tick]:
            totals["workspaces"] += 1
            for key, value in (await process_tickets(ctx, workspace_id)).items():
                totals[key] += value
        return totals

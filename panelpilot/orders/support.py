"""Support chats: the workspace's own team acts on any order and links customers from chat.

Commands (on top of every customer command, for any order of the workspace):
``link <chat> <username>``, ``unlink <chat>``, ``order <id>`` (everything the panel knows about
an order, with the rules that decide it). ``<chat>`` is a chat id on the support chat's own
channel (``555000111``, ``233248073506`` for WhatsApp), or ``<channel key>:<chat id>`` for
another channel of the workspace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.channels.models import ChannelAccount
from panelpilot.chats import service as chats
from panelpilot.chats.models import Chat, ChatRole
from panelpilot.conversation.turn import Turn
from panelpilot.db.base import utcnow
from panelpilot.errors import Invalid
from panelpilot.orders import linking, routing
from panelpilot.orders.checks import human
from panelpilot.orders.grammar import ParseResult
from panelpilot.orders.models import OrderCooldown
from panelpilot.orders.module import finish_in_chat
from panelpilot.orders.panel import open_panel
from panelpilot.orders.rules import OrderRules
from panelpilot.orders.workflow import (
    Request,
    evaluate,
    load_setup,
    note_command,
    service_rule_for,
    summary,
)
from panelpilot.panels.base import PanelError, PanelOrder


@dataclass
class Target:
    channel_id: int
    channel_key: str
    kind: str
    chat_id: str


async def resolve_chat(session: AsyncSession, turn: Turn, spec: str) -> Target:
    """``555000111`` (this channel) or ``wa:233248073506`` (channel ``wa``) → a chat address."""
    channels = {c.key: c for c in (await session.execute(select(ChannelAccount))).scalars()}
    key, sep, rest = spec.partition(":")
    channel: ChannelAccount | None
    if sep and key in channels and rest:
        channel, raw = channels[key], rest
    else:
        channel = next((c for c in channels.values() if c.id == turn.channel.id), None)
        raw = spec
    if channel is None:
        raise Invalid("unknown channel")
    chat_id = linking.normalize_chat_id(channel.kind, raw)
    if not chat_id or len(chat_id) > 128:
        raise Invalid("not a chat id")
    return Target(channel.id, channel.key, channel.kind, chat_id)


async def handle_support(turn: Turn, parsed: ParseResult, rules: OrderRules,
                         started: float) -> bool:
    kind = parsed.kind
    if kind == "help":
        text = await turn.template("support_help")
        _answer(turn, parsed, started, "help", "help", text)
    elif kind == "too_many":
        text = await turn.template("too_many_ids", max_ids=rules.max_ids, count=parsed.count)
        _answer(turn, parsed, started, "too_many", "too_many", text)
    elif kind == "order_action":
        assert parsed.action is not None
        request = Request(parsed.action, parsed.order_ids, None, "support", turn.text,
                          turn.channel.id, turn.chat.chat_id, kind, parsed.corrected_from,
                          parsed.suggestion)
        plan = await evaluate(turn.ctx, turn.workspace_id, request)
        plan.started = started
        turn.write(finish_in_chat(turn, plan))
        turn.done(f"orders (support): {parsed.action} {summary(plan)}")
    elif kind == "order":
        text, calls = await order_details(turn, parsed.order_ids)
        _answer(turn, parsed, started, "order", "details", text, calls=calls,
                order_ids=parsed.order_ids)
    elif kind == "link" and len(parsed.args) == 2:
        await _link(turn, parsed, started, parsed.args[0], parsed.args[1])
    elif kind == "unlink" and len(parsed.args) == 1:
        await _unlink(turn, parsed, started, parsed.args[0])
    elif kind in ("link", "unlink", "balance"):
        _answer(turn, parsed, started, kind, "usage", await turn.template("support_help"))
    else:
        return False
    return True


def _answer(turn: Turn, parsed: ParseResult, started: float, kind: str, outcome: str,
            text: str, **extra: Any) -> None:
    turn.reply(text, quote=turn.chat.chat_type == "group")
    workspace_id, message = turn.workspace_id, turn.text
    channel_id, chat_id, event_id = turn.channel.id, turn.chat.chat_id, turn.event_id

    async def write(session: AsyncSession) -> None:
        await note_command(session, workspace_id, source="support", kind=kind, text=message,
                           outcome=outcome, reply=text, channel_id=channel_id, chat_id=chat_id,
                           action=parsed.action, corrected_from=parsed.corrected_from,
                           suggestion=parsed.suggestion, started=started, event_id=event_id,
                           **extra)

    turn.write(write)
    turn.done(f"orders (support): {outcome}")


async def _link(turn: Turn, parsed: ParseResult, started: float, spec: str,
                username: str) -> None:
    try:
        username = linking.check_username(username)
        async with turn.read() as session:
            target = await resolve_chat(session, turn, spec)
            existing = await chats.find(session, target.channel_id, target.chat_id)
            if existing is not None and existing.role in (ChatRole.SUPPORT,
                                                         ChatRole.PROVIDER_GROUP):
                raise Invalid(f"that chat is a {existing.role.replace('_', ' ')} chat")
    except Invalid as exc:
        _answer(turn, parsed, started, "link", "refused", f"Not linked: {exc.message}.",
                detail=exc.message, username=username)
        return
    workspace_id, who = turn.workspace_id, f"support chat {turn.chat.chat_id}"

    async def write(session: AsyncSession) -> None:
        chat = await linking.chat_for(session, workspace_id, target.channel_id, target.kind,
                                      target.chat_id)
        await linking.link(session, workspace_id, chat, username, source="support", by=who)

    turn.write(write)
    _answer(turn, parsed, started, "link", "linked",
            f"Linked {target.channel_key}:{target.chat_id} to {username}.", username=username)


async def _unlink(turn: Turn, parsed: ParseResult, started: float, spec: str) -> None:
    try:
        async with turn.read() as session:
            target = await resolve_chat(session, turn, spec)
            chat = await chats.find(session, target.channel_id, target.chat_id)
            username = (await linking.linked_username(session, chat.id)
                        if chat is not None else None)
    except Invalid as exc:
        _answer(turn, parsed, started, "unlink", "refused", f"Not unlinked: {exc.message}.")
        return
    if chat is None or username is None:
        _answer(turn, parsed, started, "unlink", "not_linked",
                f"{target.channel_key}:{target.chat_id} is not linked.")
        return
    chat_pk = chat.id

    async def write(session: AsyncSession) -> None:
        row = await session.get(Chat, chat_pk)
        if row is not None:
            await linking.unlink(session, row)

    turn.write(write)
    _answer(turn, parsed, started, "unlink", "unlinked",
            f"Unlinked {target.channel_key}:{target.chat_id} (was {username}).",
            username=username)


async def order_details(turn: Turn, order_ids: list[str]) -> tuple[str, list[Any]]:
    """Everything the panel says about some orders, and the rules that decide them."""
    panel = await open_panel(turn.ctx, turn.workspace_id, purpose="support")
    if panel is None:
        return "The workspace has no panel connection.", []
    try:
        orders = await panel.get_orders(order_ids)
    except PanelError as exc:
        # Support staff may see what went wrong (never the key: adapters scrub it).
        return f"The panel did not answer: {exc.message}", panel.calls
    async with turn.read() as session:
        setup = await load_setup(session)
        cooldowns = list((await session.execute(
            select(OrderCooldown).where(OrderCooldown.order_id.in_(order_ids),
                                        OrderCooldown.until > utcnow()))).scalars())
    parts = []
    for order_id in order_ids:
        order = orders.get(order_id)
        if order is None:
            parts.append(f"Order {order_id}: not found in the panel.")
            continue
        parts.append(_describe(order, setup, [c for c in cooldowns if c.order_id == order_id]))
    return "\n\n".join(parts), panel.calls


def _describe(order: PanelOrder, setup: Any, cooldowns: list[OrderCooldown]) -> str:
    rule = service_rule_for(order, setup, {})
    route = routing.find_route(order.provider, setup.routes)
    if route is None:
        where = "no route" + (" (fallback group)" if setup.fallback else "")
    elif not route.has_group:
        where = f"route {route.name} (no group)"
    else:
        where = f"route {route.name} → {route.chat_id}"
    lines = [
        f"Order {order.id}",
        f"User: {order.user or '?'}",
        f"Status: {order.status}" + (f" ({order.raw_status})" if order.raw_status
                                     and order.raw_status != order.status else ""),
        f"Service: #{order.service_id or '?'} {order.service_name or ''}".rstrip(),
        f"Rules: {rule.describe()}",
        f"Quantity: {order.quantity}, start count: {order.start_count}, "
        f"remains: {order.remains}",
        f"Charge: {order.charge}" if order.charge else "Charge: ?",
        f"Link: {order.link or '?'}",
        f"Provider: {order.provider or '?'} ({where})",
        "External id: " + (order.external_id
                           or ("hidden by the key" if order.external_id_hidden else "none")),
        f"Created: {order.created:%Y-%m-%d %H:%M} UTC" if order.created else "Created: ?",
    ]
    if order.last_update:
        lines.append(f"Last update: {order.last_update:%Y-%m-%d %H:%M} UTC")
    now = utcnow()
    for c in cooldowns:
        lines.append(f"Cooldown: {c.action} for {human(c.until - now)} more")
    return "\n".join(lines)

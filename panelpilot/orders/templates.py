"""Customer wording of order support (defaults a workspace may override), and the compact answer.

Every answer a customer can get is a template here; reasons inside answers are templates too,
so a workspace can word everything in its customers' language. A bulk command gets one answer:
orders with the same verdict and reason share one line (``✅ 2274209, 2274215: refill request
sent.``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.templates import service as templates

DEFAULTS: dict[str, str] = {
    "help": (
        "Send your order ID and what you need, for example:\n"
        "2274209 refill\n"
        "2274209, 2274210 speed\n"
        "2274209 cancel\n"
        "Also: status <order ID>, balance.\n"
        "Not linked yet? Send: link <your panel username>"
    ),
    "order_sent": "✅ {ids}: {action} request sent.",
    "order_not_found": "❌ {ids}: order not found.",
    "order_not_yours": "❌ {ids}: this order is not on your account.",
    "order_not_eligible": "❌ {ids}: {action} is not possible, {reason}.",
    "order_too_early": ("⏳ {ids}: the start time has not passed yet. You can ask for a "
                        "speed-up {when}."),
    "order_cooldown": ("⏳ {ids}: {action} was already requested. You can ask again in "
                       "{time_left}."),
    "provider_missing": ("⚠️ {ids}: this order can not be passed on automatically. Our "
                         "support team will look at it."),
    "route_missing": ("⚠️ {ids}: we could not pass this request on right now. Our support "
                      "team will look at it."),
    "order_status": ("📦 {id}: {status}. Quantity {quantity}, start count {start_count}, "
                     "remains {remains}."),
    "too_many_ids": "Please send at most {max_ids} order IDs in one message (you sent {count}).",
    "balance": "💰 Balance of {username}: {balance}.",
    "not_linked": ("This chat is not linked to a panel account yet. Send: "
                   "link <your panel username>"),
    "not_understood": "Sorry, I did not understand that. Send help to see the commands.",
    "did_you_mean": "Did you mean {suggestion}? For example: 2274209 {suggestion}",
    "link_code_sent": (
        "If {username} is an account on our panel, a ticket with a 6-digit code is now "
        "waiting there. Send the code here within {minutes} minutes."
    ),
    "link_done": "✅ This chat is now linked to {username}.",
    "link_wrong_code": "❌ That code is not right. Tries left: {tries_left}.",
    "link_expired": "That code is no longer valid. Send link <username> to get a new one.",
    "link_locked": "Too many attempts. Please try again in {time_left}.",
    "unlink_done": "This chat is no longer linked to {username}.",
    "link_ticket_subject": "Chat link code",
    "link_ticket_message": (
        "Your code to link a chat to this account: {code}\n"
        "It is valid for {minutes} minutes and can be used once. If you did not ask for it, "
        "ignore this ticket."
    ),
    # The team's own chat (not customers): its command list.
    "support_help": (
        "Support chat commands:\n"
        "<order IDs> refill|speed|cancel|status: for any order of the panel\n"
        "order <ID>: everything about an order\n"
        "link <chat> <username>: link a customer chat (chat id, or channel:chat id)\n"
        "unlink <chat>: remove a link"
    ),
    # What the fallback support group receives for an order no provider route can take.
    "fallback_dispatch": "No route for provider {provider}: {external_id} {action} (panel order "
                         "{order_id})",
    # Reasons, inserted into order_not_eligible as {reason}.
    "reason_status": "the order is {status}",
    "reason_no_remains": "nothing remains to deliver",
    "reason_not_completed": "the order is not completed yet",
    "reason_no_refill": "this service has no refill",
    "reason_refill_unknown": "the refill terms of this service are not known; our team will check",
    "reason_refill_expired": "the {days}-day refill period ended on {date}",
    "reason_start_unknown": "the start time of this service is not known; our team will check",
}
templates.register_defaults(DEFAULTS)

# The template of each verdict's line.
VERDICT_TEMPLATES = {
    "sent": "order_sent",
    "not_found": "order_not_found",
    "not_yours": "order_not_yours",
    "not_eligible": "order_not_eligible",
    "too_early": "order_too_early",
    "cooldown": "order_cooldown",
    "provider_missing": "provider_missing",
    "route_missing": "route_missing",
    "status": "order_status",
}


@dataclass
class Line:
    """One order's part of an answer: a template and its values (without the ids)."""

    order_id: str
    template: str
    values: dict[str, Any] = field(default_factory=dict)
    # Status lines stay one per order: each has its own figures.
    groupable: bool = True


async def render_reason(session: AsyncSession, key: str | None, values: dict[str, Any]) -> str:
    if not key:
        return ""
    return await templates.render(session, key, **values)


async def compact(session: AsyncSession, lines: Iterable[Line]) -> str:
    """One answer for all orders: orders whose lines would read the same share one line."""
    groups: dict[tuple[str, tuple[tuple[str, str], ...]], list[str]] = {}
    singles: list[tuple[int, Line]] = []
    order: list[tuple[str, tuple[tuple[str, str], ...]] | int] = []
    for n, line in enumerate(lines):
        if not line.groupable:
            singles.append((n, line))
            order.append(n)
            continue
        key = (line.template, tuple(sorted((k, str(v)) for k, v in line.values.items())))
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(line.order_id)
    by_index = dict(singles)
    out: list[str] = []
    for item in order:
        if isinstance(item, int):
            line = by_index[item]
            out.append(await templates.render(session, line.template, id=line.order_id,
                                              ids=line.order_id, **line.values))
        else:
            template, values = item
            ids = groups[item]
            out.append(await templates.render(session, template, ids=", ".join(ids),
                                              id=ids[0], count=len(ids), **dict(values)))
    return "\n".join(out)

"""The conversation modules of order support: customer chats, support chats, and the log of
messages nobody understood.

``OrdersModule`` takes what the grammar recognizes in customer chats (private chats and customer
groups) and support chats; provider groups always get silence. ``UnrecognizedModule`` comes
last in the module list: a message no module took is logged for the failed-commands report and
gets silence (strict mode, the default) or a short "not understood".
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.chats.models import ChatRole
from panelpilot.conversation.turn import Turn
from panelpilot.db.base import utcnow
from panelpilot.errors import Invalid
from panelpilot.orders import linking
from panelpilot.orders.grammar import ParseResult, parse_command
from panelpilot.orders.models import LinkedChat
from panelpilot.orders.panel import open_panel
from panelpilot.orders.rules import OrderRules
from panelpilot.orders.rules import load as load_rules
from panelpilot.orders.workflow import (
    Plan,
    Request,
    commit,
    evaluate,
    note_command,
    summary,
)
from panelpilot.outbox.enqueue import enqueue
from panelpilot.panels.base import PanelError

# Near-misses worth a line in the failed-commands report even when said in a group.
NEAR_MISSES = ("typo", "missing_action", "missing_ids")


# "@PanelBot 2274209 refill": people address the bot by name in groups.
_MENTION = re.compile(r"^@\w+[\s,:]+")


async def _rules(session: AsyncSession) -> tuple[OrderRules, dict[str, str]]:
    rules, aliases, _ = await load_rules(session)
    return rules, aliases


async def _parse(turn: Turn) -> tuple[ParseResult, OrderRules, dict[str, str]]:
    rules, aliases = await turn.cached("order_rules", _rules)
    text = _MENTION.sub("", turn.text, count=1) or turn.text
    return parse_command(text, aliases=aliases, max_ids=rules.max_ids), rules, aliases


def _in_group(turn: Turn) -> bool:
    return turn.chat.chat_type == "group"


# The chat's linked panel username, read with each turn's context.
LINKED_USERNAME = "linked_username"


class OrdersModule:
    name = "orders"
    chat_context = {LINKED_USERNAME: select(LinkedChat.chat_pk, LinkedChat.username).where(
        LinkedChat.chat_pk.in_(bindparam("pks", expanding=True)))}

    async def handle(self, turn: Turn) -> bool:
        role = turn.chat.role
        if role == ChatRole.PROVIDER_GROUP:
            # Providers talk among themselves there ("EXT-99812 refill done"): never answer.
            turn.done("provider group (silent)")
            return True
        if not turn.text:
            return False
        if _in_group(turn) and role not in (ChatRole.CUSTOMER_GROUP, ChatRole.SUPPORT):
            return False
        started = time.monotonic()
        parsed, rules, _ = await _parse(turn)
        if role == ChatRole.SUPPORT:
            from panelpilot.orders.support import handle_support

            return await handle_support(turn, parsed, rules, started)
        return await Customer(turn, parsed, rules, started).handle()


class Customer:
    """One customer message in a private chat or a customer group."""

    def __init__(self, turn: Turn, parsed: ParseResult, rules: OrderRules,
                 started: float) -> None:
        self.turn, self.parsed, self.rules, self.started = turn, parsed, rules, started
        self.username: str | None = None

    async def handle(self) -> bool:
        kind = self.parsed.kind
        if kind in ("unrecognized",):
            return False
        self.username = self.turn.chat_context.get(LINKED_USERNAME)
        if kind == "help":
            await self.answer("help", "help", await self.turn.template("help"))
        elif kind == "too_many":
            text = await self.turn.template("too_many_ids", max_ids=self.rules.max_ids,
                                            count=self.parsed.count)
            await self.answer("too_many", "too_many", text, action=self.parsed.action)
        elif kind == "link":
            if len(self.parsed.args) != 1:
                return False
            await self.link(self.parsed.args[0])
        elif kind == "code":
            return await self.code(self.parsed.args[0])
        elif kind == "unlink":
            if self.parsed.args:
                return False  # "unlink <chat>" is for support chats
            await self.unlink()
        elif self.username is None:
            await self.answer(kind, "not_linked", await self.turn.template("not_linked"),
                              action=self.parsed.action)
        elif kind == "balance":
            await self.balance()
        elif kind in ("order_action", "order"):
            await self.order_action()
        else:
            return False
        return True

    # --- answers and logs --------------------------------------------------------------------

    def log(self, kind: str, outcome: str, reply: str, **extra: Any) -> None:
        turn, parsed, started = self.turn, self.parsed, self.started
        # The linked username, or for link commands the one asked for.
        username = extra.pop("username", self.username)

        async def write(session: AsyncSession) -> None:
            await note_command(
                session, turn.workspace_id, source="chat", kind=kind, text=turn.text,
                outcome=outcome, reply=reply, channel_id=turn.channel.id,
                chat_id=turn.chat.chat_id, username=username,
                corrected_from=parsed.corrected_from, suggestion=parsed.suggestion,
                started=started, event_id=turn.event_id, **extra)

        turn.write(write)

    async def answer(self, kind: str, outcome: str, text: str, **extra: Any) -> None:
        self.turn.reply(text, quote=_in_group(self.turn))
        self.log(kind, outcome, text, **extra)
        # "help" reads the same in the message log whichever module answered it.
        self.turn.done(outcome if outcome == "help" else f"orders: {outcome}")

    # --- order actions -------------------------------------------------------------------------

    async def order_action(self) -> None:
        turn, parsed = self.turn, self.parsed
        action = parsed.action if parsed.kind == "order_action" else "status"
        assert action is not None and self.username is not None
        request = Request(action, parsed.order_ids, self.username, "chat", turn.text,
                          turn.channel.id, turn.chat.chat_id, parsed.kind,
                          parsed.corrected_from, parsed.suggestion)
        plan = await evaluate(turn.ctx, turn.workspace_id, request)
        plan.started = self.started
        turn.write(finish_in_chat(turn, plan))
        turn.done(f"orders: {action} {summary(plan)}")

    async def balance(self) -> None:
        assert self.username is not None
        panel = await open_panel(self.turn.ctx, self.turn.workspace_id, purpose="balance")
        detail, user = "no panel connection", None
        if panel is not None:
            try:
                user = await panel.get_user(self.username)
                detail = "" if user is not None else "the panel does not know this username"
            except PanelError as exc:
                detail = f"{exc.reason}: {exc.message}"
        calls = panel.calls if panel else []
        if user is None or user.balance is None:
            text = await self.turn.template("api_problem")
            await self.answer("balance", "api_problem", text, detail=detail, calls=calls)
            return
        amount = f"{user.balance} {user.currency}" if user.currency else str(user.balance)
        text = await self.turn.template("balance", username=user.username, balance=amount,
                                        amount=str(user.balance), currency=user.currency or "")
        await self.answer("balance", "balance", text, calls=calls)

    # --- linking -----------------------------------------------------------------------------

    async def link(self, username: str) -> None:
        turn = self.turn
        now = utcnow()
        async with turn.read() as session:
            state = await linking.link_state(session, turn.chat.pk, now)
        if state.locked_until is not None or state.recent_requests >= linking.REQUESTS_PER_HOUR:
            until = state.locked_until or (
                (state.oldest_recent or now) + timedelta(hours=1))
            from panelpilot.orders.checks import human

            text = await turn.template("link_locked", time_left=human(until - now))
            await self.answer("link", "link_locked", text, username=username)
            return
        try:
            username = linking.check_username(username)
        except Invalid:
            valid = False
        else:
            valid = True
        panel = await open_panel(turn.ctx, turn.workspace_id, purpose="link")
        if panel is None:
            await self.answer("link", "api_problem", await turn.template("api_problem"),
                              username=username, detail="no panel connection")
            return
        code = linking.new_code()
        minutes = int(linking.CODE_TTL.total_seconds() // 60)
        subject = await turn.template("link_ticket_subject")
        message = await turn.template("link_ticket_message", code=code, minutes=minutes,
                                      username=username)
        delivered, ticket_id, detail = True, None, "code sent as a panel ticket"
        try:
            if not valid:
                raise PanelError("not a username", reason="bad_request")
            ticket_id = await panel.create_ticket(username, subject, message) or None
        except PanelError as exc:
            if exc.transient:
                await self.answer("link", "api_problem", await turn.template("api_problem"),
                                  username=username, calls=panel.calls,
                                  detail=f"{exc.reason}: {exc.message}")
                return
            # No such user (or tickets refused): the chat hears exactly what it would hear
            # for a real user, and no code will ever match.
            delivered, detail = False, f"no code delivered ({exc.reason}: {exc.message})"
        workspace_id, chat_pk = turn.workspace_id, turn.chat.pk

        async def save(session: AsyncSession) -> None:
            await linking.save_challenge(session, workspace_id, chat_pk, username, code,
                                         delivered=delivered, ticket_id=ticket_id, now=now)

        turn.write(save)
        text = await turn.template("link_code_sent", username=username, minutes=minutes)
        await self.answer("link", "code_sent" if delivered else "code_not_delivered", text,
                          username=username, calls=panel.calls, detail=detail)

    async def code(self, code: str) -> bool:
        turn = self.turn
        now = utcnow()
        async with turn.read() as session:
            challenge = await linking.latest_challenge(session, turn.chat.pk)
            if challenge is not None and challenge.created_at < now - timedelta(hours=1):
                challenge = None  # an old request: this number means something else now
            result = linking.check_code(challenge, code, now)
        if result.result == "none":
            return False
        workspace_id, chat_pk = turn.workspace_id, turn.chat.pk

        async def record(session: AsyncSession) -> None:
            from panelpilot.chats.models import Chat

            chat = await session.get(Chat, chat_pk)
            if chat is not None:
                await linking.record_code(session, workspace_id, chat, result, now)

        turn.write(record)
        if result.result == "done":
            self.username = result.username
            text = await turn.template("link_done", username=result.username)
        elif result.result == "wrong":
            text = await turn.template("link_wrong_code", tries_left=result.tries_left)
        elif result.result == "locked":
            from panelpilot.orders.checks import human

            text = await turn.template("link_locked", time_left=human(linking.COOL_OFF))
        else:
            text = await turn.template("link_expired")
        await self.answer("code", f"code_{result.result}", text,
                          username=result.username or None)
        return True

    async def unlink(self) -> None:
        turn = self.turn
        if self.username is None:
            await self.answer("unlink", "not_linked", await turn.template("not_linked"))
            return
        chat_pk = turn.chat.pk

        async def drop(session: AsyncSession) -> None:
            from panelpilot.chats.models import Chat

            chat = await session.get(Chat, chat_pk)
            if chat is not None:
                await linking.unlink(session, chat)

        turn.write(drop)
        text = await turn.template("unlink_done", username=self.username)
        await self.answer("unlink", "unlinked", text)


def finish_in_chat(turn: Turn, plan: Plan) -> Any:
    """The effect that commits an order command and queues its one answer in the chat."""
    quote = _in_group(turn)

    async def finish(session: AsyncSession) -> None:
        outcome = await commit(session, plan, key_prefix=f"ev{turn.event_id}",
                               event_id=turn.event_id)
        await enqueue(session, turn.workspace_id, channel_id=turn.channel.id,
                      kind=turn.channel.kind, chat_id=turn.chat.chat_id, text=outcome.answer,
                      key=f"ev{turn.event_id}:orders",
                      reply_to=turn.message.message_id if quote else None,
                      source_event_id=turn.event_id)

    return finish


class UnrecognizedModule:
    """Last in line: logs what nobody understood, then stays silent (or says so, if not strict)."""

    name = "orders-unrecognized"

    async def handle(self, turn: Turn) -> bool:
        role = turn.chat.role
        if not turn.text or role in (ChatRole.PROVIDER_GROUP, ChatRole.SUPPORT):
            return False
        group = _in_group(turn)
        if group and role != ChatRole.CUSTOMER_GROUP:
            return False  # people talk in groups; only customer groups are ours to read
        started = time.monotonic()
        parsed, rules, _ = await _parse(turn)
        error_type = parsed.error_type or "unrecognized"
        if group and error_type not in NEAR_MISSES:
            return False
        reply = ""
        if not rules.strict:
            if parsed.suggestion:
                reply = await turn.template("did_you_mean", suggestion=parsed.suggestion)
            else:
                reply = await turn.template("not_understood")
            turn.reply(reply, quote=group)
        workspace_id, text = turn.workspace_id, turn.text
        channel_id, chat_id, event_id = turn.channel.id, turn.chat.chat_id, turn.event_id
        username = turn.chat_context.get(LINKED_USERNAME)

        async def write(session: AsyncSession) -> None:
            await note_command(session, workspace_id, source="chat", kind="unrecognized",
                               text=text, outcome="unrecognized", reply=reply,
                               channel_id=channel_id, chat_id=chat_id, username=username,
                               error_type=error_type, suggestion=parsed.suggestion,
                               started=started, event_id=event_id, action=parsed.action)

        turn.write(write)
        turn.done("silent" if rules.strict else "not understood")
        return True

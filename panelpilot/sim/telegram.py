"""A Telegram Bot API simulator: a Starlette app answering ``/bot{token}/{method}`` like Telegram.

It keeps per-bot state (chats, message ids, update queue, webhook), enforces Telegram's flood
limits with 429 ``retry_after``, injects faults (blocked users, unknown chats, migrated groups,
5xx, slow answers), produces realistic inbound updates and delivers them by webhook (with
Telegram's retries) or long polling. Tests drive it from Python (``sim.user_says(...)``); a
separate process drives it through the JSON control API under ``/_sim/``.

Run standalone: ``python -m panelpilot.sim.telegram --port 8081 --bot 123:ABC=shop_bot``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import functools
import json
import math
import re
import secrets
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from itertools import islice
from typing import Any, Concatenate, ParamSpec, TypeVar
from urllib.parse import parse_qsl

import aiohttp
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

TEXT_LIMIT = 4096  # in UTF-16 code units, like every length Telegram counts
CALLBACK_DATA_LIMIT = 64  # bytes
FIRST_UPDATE_ID = 100_000_001
MESSAGES_KEPT_PER_CHAT = 500
# Update kinds Telegram leaves out unless a bot names them in allowed_updates.
OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})

CONFLICT_WEBHOOK = (
    "Conflict: can't use getUpdates method while webhook is active; "
    "use deleteWebhook to delete the webhook first"
)
CONFLICT_OTHER_POLL = (
    "Conflict: terminated by other getUpdates request; "
    "make sure that only one bot instance is running"
)
CHAT_NOT_FOUND = "Bad Request: chat not found"
MIGRATED = "Bad Request: group chat was upgraded to a supergroup chat"
# Telegram's front proxy answers gateway errors with an HTML page, not the JSON envelope.
_GATEWAY_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx/1.18.0</center>\r\n"
    "</body>\r\n</html>\r\n"
)
_REASONS = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable",
            504: "Gateway Time-out"}

_METHOD_NAMES = (
    "getMe", "sendMessage", "setWebhook", "deleteWebhook", "getWebhookInfo", "getUpdates",
    "answerCallbackQuery", "editMessageText", "createChatInviteLink",
)
# Telegram matches method names case-insensitively.
_METHODS = {name.lower(): name for name in _METHOD_NAMES}
_TOKEN_RE = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_MENTION_RE = re.compile(r"(?<![\w@])@[A-Za-z][A-Za-z0-9_]{3,31}\b")
_COMMAND_RE = re.compile(r"^/[A-Za-z0-9_]{1,32}(?:@[A-Za-z][A-Za-z0-9_]{3,31})?")


@dataclass(frozen=True)
class Limits:
    """Flood limits. ``None`` turns a limit off. Defaults are Telegram's published ones."""

    bot_per_second: float | None = 30.0
    bot_burst: int = 30
    private_per_second: float | None = 1.0
    private_burst: int = 3
    group_per_minute: float | None = 20.0
    group_burst: int = 20

    @classmethod
    def off(cls) -> Limits:
        return cls(bot_per_second=None, private_per_second=None, group_per_minute=None)


class ApiError(Exception):
    """An error answer in Telegram's envelope."""

    def __init__(self, code: int, description: str, parameters: dict[str, Any] | None = None):
        super().__init__(description)
        self.code = code
        self.description = description
        self.parameters = parameters

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"ok": False, "error_code": self.code,
                                "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return JSONResponse(body, status_code=self.code)


class _Bucket:
    """Token bucket on the monotonic clock."""

    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(max(1, burst))
        self.tokens = self.burst
        self.stamp = time.monotonic()

    def wait(self, now: float) -> float:
        """Seconds until one message may go; 0 when it may go now."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate

    def take(self) -> None:
        self.tokens -= 1


@dataclass(eq=False)
class _Chat:
    id: int
    type: str  # private, group, supergroup, channel
    title: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    username: str | None = None
    next_message_id: int = 1
    messages: dict[int, dict[str, Any]] = field(default_factory=dict)
    blocked: bool = False
    unknown: bool = False
    migrated_to: int | None = None
    bucket: _Bucket | None = None

    def as_chat(self) -> dict[str, Any]:
        if self.type == "private":
            chat: dict[str, Any] = {"id": self.id, "first_name": self.first_name or "User"}
            if self.last_name:
                chat["last_name"] = self.last_name
            if self.username:
                chat["username"] = self.username
        else:
            chat = {"id": self.id, "title": self.title or f"Chat {abs(self.id)}"}
        chat["type"] = self.type
        return chat

    def remember(self, message: dict[str, Any]) -> None:
        self.messages[message["message_id"]] = message
        if len(self.messages) > MESSAGES_KEPT_PER_CHAT:
            del self.messages[next(iter(self.messages))]


@dataclass
class _Fault:
    status: int
    method: str | None
    retry_after: int | None
    body: str | None

    def matches(self, method: str) -> bool:
        # Without a method a fault hits anything but getUpdates, so a bot's own poller does not
        # swallow faults that a test meant for its sends.
        return method == self.method if self.method else method != "getUpdates"

    def response(self) -> Response:
        if self.body is not None:
            return Response(self.body, status_code=self.status, media_type="text/html")
        if self.status == 429:
            retry = self.retry_after or 1
            return ApiError(429, f"Too Many Requests: retry after {retry}",
                            {"retry_after": retry}).response()
        if self.status >= 502:
            reason = _REASONS.get(self.status, "Bad Gateway")
            page = _GATEWAY_PAGE.format(status=self.status, reason=reason)
            return Response(page, status_code=self.status, media_type="text/html")
        return ApiError(self.status, _REASONS.get(self.status, "Internal Server Error")).response()


@dataclass(eq=False)
class _Bot:
    token: str
    id: int
    username: str
    first_name: str
    next_update_id: int = FIRST_UPDATE_ID
    queue: deque[dict[str, Any]] = field(default_factory=deque)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    webhook_url: str = ""
    secret_token: str | None = None
    allowed_updates: list[str] = field(default_factory=list)
    max_connections: int = 40
    last_error_date: int | None = None
    last_error_message: str | None = None
    delivery: asyncio.Task[None] | None = None
    poll_generation: int = 0
    delay: float = 0.0
    faults: deque[_Fault] = field(default_factory=deque)
    chats: dict[int, _Chat] = field(default_factory=dict)
    bucket: _Bucket | None = None
    sent: list[dict[str, Any]] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)
    callback_answers: list[dict[str, Any]] = field(default_factory=list)
    open_callbacks: set[str] = field(default_factory=set)
    invite_links: list[dict[str, Any]] = field(default_factory=list)
    webhook_log: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=1000))
    calls: Counter[str] = field(default_factory=Counter)
    rate_limited: int = 0

    def user(self) -> dict[str, Any]:
        return {"id": self.id, "is_bot": True, "first_name": self.first_name,
                "username": self.username}


class _Described:
    """A successful result that Telegram accompanies with a description (setWebhook)."""

    def __init__(self, result: Any, description: str) -> None:
        self.result = result
        self.description = description


P = ParamSpec("P")
R = TypeVar("R")


def _on_sim_loop(fn: Callable[Concatenate[TelegramSim, P], R]) -> Callable[Concatenate[TelegramSim, P], R]:  # noqa: E501
    """Run a state-changing call in the simulator's event loop.

    The sim may be served from another thread (``LoopbackServer.start_in_thread``); its asyncio
    events and dicts must only be touched from that loop, so foreign callers hop over and wait.
    """

    @functools.wraps(fn)
    def wrapper(self: TelegramSim, *args: P.args, **kwargs: P.kwargs) -> R:
        loop = self._loop
        if loop is None or loop.is_closed() or self._loop_thread == threading.get_ident():
            return fn(self, *args, **kwargs)
        done: concurrent.futures.Future[R] = concurrent.futures.Future()

        def run() -> None:
            try:
                done.set_result(fn(self, *args, **kwargs))
            except BaseException as exc:  # noqa: BLE001 - handed back to the calling thread
                done.set_exception(exc)

        loop.call_soon_threadsafe(run)
        return done.result(timeout=30)

    return wrapper


def _chat_of(update: dict[str, Any]) -> Any:
    """The chat an update belongs to (updates of one chat are delivered one at a time)."""
    for key in ("message", "edited_message", "channel_post", "edited_channel_post",
                "my_chat_member", "chat_member"):
        item = update.get(key)
        if isinstance(item, dict) and isinstance(item.get("chat"), dict):
            return ("chat", item["chat"].get("id"))
    query = update.get("callback_query")
    if isinstance(query, dict) and isinstance(query.get("message"), dict):
        return ("chat", query["message"].get("chat", {}).get("id"))
    return ("update", update.get("update_id"))


class TelegramSim:
    """The simulated Bot API. Serve ``sim.app`` with ``LoopbackServer`` and point clients at it."""

    def __init__(
        self,
        *,
        limits: Limits | None = None,
        strict_chats: bool = False,
        webhook_retry_delays: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0),
        webhook_timeout: float = 10.0,
        max_poll_timeout: float = 50.0,
    ) -> None:
        """``strict_chats``: sends to chats the sim has never seen get "chat not found" (by
        default they are created on the fly: positive ids private, negative ids groups).
        ``webhook_retry_delays``: pauses between redeliveries of a failed update; after the last
        one the update is dropped."""
        self.limits = limits or Limits()
        self.strict_chats = strict_chats
        self.webhook_retry_delays = webhook_retry_delays
        self.webhook_timeout = webhook_timeout
        self.max_poll_timeout = max_poll_timeout
        self.calls: Counter[str] = Counter()
        self.rate_limited = 0  # 429 answers given, all bots
        self._bots: dict[str, _Bot] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._http: aiohttp.ClientSession | None = None
        self._closing = False
        self._app: Starlette | None = None

    # ---- setup and fault injection -------------------------------------------------------

    @_on_sim_loop
    def add_bot(self, token: str, username: str | None = None,
                first_name: str | None = None) -> dict[str, Any]:
        """Register a bot; its id is the token's number, as in Telegram. Idempotent."""
        if not _TOKEN_RE.match(token):
            raise ValueError(f"not a Bot API token: {token!r}")
        bot = self._bots.get(token)
        if bot is None:
            bot_id = int(token.split(":", 1)[0])
            name = username or f"sim{bot_id}_bot"
            bot = _Bot(token=token, id=bot_id, username=name, first_name=first_name or name)
            if self.limits.bot_per_second:
                bot.bucket = _Bucket(self.limits.bot_per_second, self.limits.bot_burst)
            self._bots[token] = bot
        return bot.user()

    @_on_sim_loop
    def add_chat(self, token: str, chat_id: int, chat_type: str | None = None, *,
                 title: str | None = None, first_name: str | None = None,
                 last_name: str | None = None, username: str | None = None) -> dict[str, Any]:
        """Make a chat known to a bot (needed with ``strict_chats``, or for channels)."""
        chat = self._chat(self._bot(token), int(chat_id), chat_type)
        chat.unknown = False
        chat.title = title or chat.title
        chat.first_name = first_name or chat.first_name
        chat.last_name = last_name or chat.last_name
        chat.username = username or chat.username
        return chat.as_chat()

    @_on_sim_loop
    def mark_unknown(self, token: str, chat_id: int) -> None:
        """Sends to this chat get 400 "chat not found"."""
        self._chat(self._bot(token), int(chat_id)).unknown = True

    @_on_sim_loop
    def block(self, token: str, chat_id: int) -> None:
        """Sends to this chat get 403 (blocked by the user / kicked), with no update produced."""
        self._chat(self._bot(token), int(chat_id)).blocked = True

    @_on_sim_loop
    def unblock(self, token: str, chat_id: int) -> None:
        self._chat(self._bot(token), int(chat_id)).blocked = False

    @_on_sim_loop
    def migrate_group(self, token: str, old_id: int, new_id: int, *,
                      by_user_id: int = 100_000_001,
                      first_name: str = "Admin") -> list[dict[str, Any]]:
        """Upgrade a group to a supergroup: sends to ``old_id`` get 400 with
        ``migrate_to_chat_id``, and the two service messages Telegram emits become updates."""
        bot = self._bot(token)
        old = self._chat(bot, int(old_id), "group")
        new = self._chat(bot, int(new_id), "supergroup")
        new.title = new.title or old.title or f"Chat {abs(old.id)}"
        old.migrated_to = new.id
        user = _user(by_user_id, first_name)
        first = self._message(old, user, migrate_to_chat_id=new.id)
        second = self._message(new, user, migrate_from_chat_id=old.id)
        return [self._enqueue(bot, {"message": first}), self._enqueue(bot, {"message": second})]

    @_on_sim_loop
    def fail_next(self, token: str, status: int = 500, count: int = 1, *,
                  method: str | None = None, retry_after: int | None = None,
                  body: str | None = None) -> None:
        """Answer the bot's next ``count`` calls with ``status``.

        500 comes in Telegram's JSON envelope, 502/503/504 as the proxy's HTML page, 429 with
        ``retry_after``; ``body`` replaces the answer with any raw text (malformed answers).
        Without ``method`` any method but getUpdates is hit.
        """
        bot = self._bot(token)
        name = _METHODS.get(method.lower(), method) if method else None
        for _ in range(count):
            bot.faults.append(_Fault(status, name, retry_after, body))

    @_on_sim_loop
    def delay(self, token: str, seconds: float) -> None:
        """Every answer to this bot comes ``seconds`` late (0 to stop)."""
        self._bot(token).delay = max(0.0, float(seconds))

    # ---- inbound: what people do -----------------------------------------------------------

    @_on_sim_loop
    def user_says(self, token: str, chat_id: int, text: str, *, user_id: int | None = None,
                  chat_type: str | None = None, first_name: str | None = None,
                  last_name: str | None = None, username: str | None = None,
                  title: str | None = None, reply_to_message_id: int | None = None,
                  entities: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        """A person writes ``text``. Entities default to what Telegram would mark (commands at
        the start, @mentions), with UTF-16 offsets. Returns the Update."""
        bot = self._bot(token)
        chat, user = self._person_in_chat(bot, int(chat_id), chat_type, user_id, first_name,
                                          last_name, username, title)
        fields: dict[str, Any] = {"text": text,
                                  "entities": entities if entities is not None
                                  else _auto_entities(text) or None}
        if reply_to_message_id is not None:
            target = chat.messages.get(int(reply_to_message_id))
            fields["reply_to_message"] = (
                _without_reply(target) if target is not None
                else {"message_id": int(reply_to_message_id), "date": _now(),
                      "chat": chat.as_chat()}
            )
        return self._enqueue(bot, {"message": self._message(chat, user, **fields)})

    @_on_sim_loop
    def user_edits(self, token: str, chat_id: int, message_id: int, text: str, *,
                   user_id: int | None = None, first_name: str | None = None,
                   username: str | None = None) -> dict[str, Any]:
        """A person edits their message ``message_id`` to ``text`` (edited_message update)."""
        bot = self._bot(token)
        chat, user = self._person_in_chat(bot, int(chat_id), None, user_id, first_name, None,
                                          username, None)
        original = chat.messages.get(int(message_id)) or {
            "message_id": int(message_id), "from": user, "chat": chat.as_chat(), "date": _now()}
        edited = {**original, "text": text, "edit_date": _now()}
        edited.pop("entities", None)
        if entities := _auto_entities(text):
            edited["entities"] = entities
        chat.remember(edited)
        return self._enqueue(bot, {"edited_message": edited})

    @_on_sim_loop
    def user_presses(self, token: str, chat_id: int, message_id: int, data: str, *,
                     user_id: int | None = None, first_name: str | None = None,
                     username: str | None = None) -> dict[str, Any]:
        """A person presses an inline button with callback ``data`` under ``message_id``."""
        bot = self._bot(token)
        chat, user = self._person_in_chat(bot, int(chat_id), None, user_id, first_name, None,
                                          username, None)
        message = chat.messages.get(int(message_id)) or {
            "message_id": int(message_id), "from": bot.user(), "chat": chat.as_chat(),
            "date": _now(), "text": ""}
        query_id = str(secrets.randbits(63))
        bot.open_callbacks.add(query_id)
        return self._enqueue(bot, {"callback_query": {
            "id": query_id, "from": user, "message": _without_reply(message),
            "chat_instance": str((bot.id * 7919 + chat.id) % 10**19), "data": data}})

    @_on_sim_loop
    def user_blocks(self, token: str, user_id: int, *,
                    first_name: str | None = None) -> dict[str, Any]:
        """A person blocks the bot: my_chat_member "kicked"; sends to them then get 403."""
        bot = self._bot(token)
        chat, user = self._person_in_chat(bot, int(user_id), "private", None, first_name, None,
                                          None, None)
        chat.blocked = True
        return self._member_update(bot, chat, user, "member", "kicked")

    @_on_sim_loop
    def user_unblocks(self, token: str, user_id: int, *,
                      first_name: str | None = None) -> dict[str, Any]:
        bot = self._bot(token)
        chat, user = self._person_in_chat(bot, int(user_id), "private", None, first_name, None,
                                          None, None)
        chat.blocked = False
        return self._member_update(bot, chat, user, "kicked", "member")

    @_on_sim_loop
    def bot_kicked(self, token: str, chat_id: int, *, by_user_id: int = 100_000_001,
                   status: str = "kicked") -> dict[str, Any]:
        """The bot is removed from a group (``status`` "kicked" or "left"); sends get 403."""
        bot = self._bot(token)
        chat = self._chat(bot, int(chat_id))
        chat.blocked = True
        return self._member_update(bot, chat, _user(by_user_id, "Admin"), "member", status)

    @_on_sim_loop
    def bot_added(self, token: str, chat_id: int, *, by_user_id: int = 100_000_001,
                  chat_type: str | None = None, title: str | None = None) -> dict[str, Any]:
        """The bot is added to a group: my_chat_member "member"."""
        bot = self._bot(token)
        chat = self._chat(bot, int(chat_id), chat_type)
        chat.title = title or chat.title
        chat.blocked = chat.unknown = False
        return self._member_update(bot, chat, _user(by_user_id, "Admin"), "left", "member")

    @_on_sim_loop
    def channel_post(self, token: str, chat_id: int, text: str, *,
                     title: str | None = None) -> dict[str, Any]:
        """A post in a channel where the bot is an admin (channel_post update)."""
        bot = self._bot(token)
        chat = self._chat(bot, int(chat_id), "channel")
        chat.title = title or chat.title
        post = self._message(chat, None, sender_chat=chat.as_chat(), text=text)
        return self._enqueue(bot, {"channel_post": post})

    @_on_sim_loop
    def deliver(self, token: str, update: dict[str, Any]) -> dict[str, Any]:
        """Queue a raw update as is. Its update_id is kept when present (to replay duplicates)."""
        return self._enqueue(self._bot(token), dict(update))

    # ---- recording ------------------------------------------------------------------------

    @_on_sim_loop
    def sent(self, token: str, chat_id: int | str | None = None) -> list[dict[str, Any]]:
        """Messages the bot sent: message_id, chat_id, text, reply_markup, reply_to, date."""
        items = self._bot(token).sent
        if chat_id is not None:
            items = [m for m in items if m["chat_id"] == int(chat_id)]
        return [dict(m) for m in items]

    @_on_sim_loop
    def edits(self, token: str) -> list[dict[str, Any]]:
        return [dict(m) for m in self._bot(token).edits]

    @_on_sim_loop
    def callback_answers(self, token: str) -> list[dict[str, Any]]:
        return [dict(m) for m in self._bot(token).callback_answers]

    @_on_sim_loop
    def invite_links(self, token: str) -> list[dict[str, Any]]:
        return [dict(m) for m in self._bot(token).invite_links]

    @_on_sim_loop
    def pending(self, token: str) -> list[dict[str, Any]]:
        """Updates not yet confirmed (polling) or delivered (webhook)."""
        return list(self._bot(token).queue)

    @_on_sim_loop
    def webhook_info(self, token: str) -> dict[str, Any]:
        return self._webhook_info(self._bot(token))

    @_on_sim_loop
    def webhook_log(self, token: str) -> list[dict[str, Any]]:
        """Every webhook delivery attempt: update_id, error (None when accepted), at."""
        return list(self._bot(token).webhook_log)

    @_on_sim_loop
    def bot_calls(self, token: str) -> dict[str, int]:
        return dict(self._bot(token).calls)

    @_on_sim_loop
    def stats(self) -> dict[str, Any]:
        bots = self._bots.values()
        return {
            "bots": len(self._bots),
            "calls": dict(self.calls),
            "sent": sum(len(b.sent) for b in bots),
            "rate_limited": self.rate_limited,
            "pending": sum(len(b.queue) for b in bots),
        }

    async def wait_webhook_idle(self, token: str, within: float = 5.0) -> bool:
        """Test helper: wait until the bot's webhook queue is empty. False after ``within`` s."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if not self.pending(token):
                return True
            await asyncio.sleep(0.01)
        return False

    @_on_sim_loop
    def close(self) -> None:
        """Answer every waiting long poll and stop webhook deliveries.

        Call before stopping the server: uvicorn waits for open requests, and a long poll may
        otherwise hold it for its whole timeout.
        """
        self._closing = True
        for bot in self._bots.values():
            bot.arrived.set()
            if bot.delivery is not None:
                bot.delivery.cancel()

    # ---- internals: state --------------------------------------------------------------------

    def _bot(self, token: str) -> _Bot:
        try:
            return self._bots[token]
        except KeyError:
            raise KeyError(f"unknown bot token {token!r}; call add_bot first") from None

    def _chat(self, bot: _Bot, chat_id: int, chat_type: str | None = None) -> _Chat:
        chat = bot.chats.get(chat_id)
        if chat is None:
            chat = _Chat(id=chat_id, type=chat_type or _guess_type(chat_id))
            bot.chats[chat_id] = chat
        elif chat_type and chat_type != chat.type:
            chat.type = chat_type
            chat.bucket = None
        return chat

    def _person_in_chat(self, bot: _Bot, chat_id: int, chat_type: str | None,
                        user_id: int | None, first_name: str | None, last_name: str | None,
                        username: str | None, title: str | None
                        ) -> tuple[_Chat, dict[str, Any]]:
        chat = self._chat(bot, chat_id, chat_type)
        # A person who writes makes the chat known to the bot.
        chat.unknown = False
        if chat.type == "private":
            user_id = chat.id  # a private chat's id is the person's id
            chat.first_name = first_name or chat.first_name or f"User{user_id}"
            chat.last_name = last_name or chat.last_name
            chat.username = username or chat.username
            return chat, _user(user_id, chat.first_name, chat.last_name, chat.username)
        chat.title = title or chat.title
        uid = user_id if user_id is not None else 100_000_001
        return chat, _user(uid, first_name or f"User{uid}", last_name, username)

    def _message(self, chat: _Chat, sender: dict[str, Any] | None,
                 **fields: Any) -> dict[str, Any]:
        message: dict[str, Any] = {"message_id": chat.next_message_id}
        chat.next_message_id += 1
        if sender is not None:
            message["from"] = sender
        message["chat"] = chat.as_chat()
        message["date"] = _now()
        message.update({k: v for k, v in fields.items() if v is not None})
        chat.remember(message)
        return message

    def _member_update(self, bot: _Bot, chat: _Chat, actor: dict[str, Any],
                       old: str, new: str) -> dict[str, Any]:
        def member(status: str) -> dict[str, Any]:
            state: dict[str, Any] = {"status": status, "user": bot.user()}
            if status == "kicked":
                state["until_date"] = 0  # banned forever, as Telegram reports a block
            return state

        return self._enqueue(bot, {"my_chat_member": {
            "chat": chat.as_chat(), "from": actor, "date": _now(),
            "old_chat_member": member(old), "new_chat_member": member(new)}})

    def _enqueue(self, bot: _Bot, update: dict[str, Any]) -> dict[str, Any]:
        given = update.get("update_id")
        if isinstance(given, int) and not isinstance(given, bool):
            bot.next_update_id = max(bot.next_update_id, given + 1)
        else:
            update = {"update_id": bot.next_update_id, **update}
            bot.next_update_id += 1
        kind = next((k for k in update if k != "update_id"), "")
        wanted = kind in bot.allowed_updates if bot.allowed_updates \
            else kind not in OPT_IN_UPDATES
        if wanted:
            bot.queue.append(update)
            bot.arrived.set()
            self._kick_delivery(bot)
        return update

    def _confirm(self, bot: _Bot, offset: int) -> None:
        if offset > 0:
            while bot.queue and bot.queue[0]["update_id"] < offset:
                bot.queue.popleft()
        elif offset < 0:
            # A negative offset keeps the last -offset updates and forgets the rest.
            while len(bot.queue) > -offset:
                bot.queue.popleft()

    def _target(self, bot: _Bot, params: dict[str, Any]) -> _Chat:
        """The chat a send goes to, or the error Telegram gives for it."""
        ref = params.get("chat_id")
        if ref is None or ref == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        if isinstance(ref, str) and ref.startswith("@"):
            found = next((c for c in bot.chats.values()
                          if c.username and c.username.lower() == ref[1:].lower()), None)
            if found is None:
                raise ApiError(400, CHAT_NOT_FOUND)
            chat = found
        else:
            chat_id = _as_int(ref, "chat_id")
            known = bot.chats.get(chat_id)
            if known is None and self.strict_chats:
                raise ApiError(400, CHAT_NOT_FOUND)
            chat = known or self._chat(bot, chat_id)
        if chat.unknown:
            raise ApiError(400, CHAT_NOT_FOUND)
        if chat.migrated_to is not None:
            raise ApiError(400, MIGRATED, {"migrate_to_chat_id": chat.migrated_to})
        if chat.blocked:
            raise ApiError(403, _forbidden(chat.type))
        return chat

    def _throttle(self, bot: _Bot, chat: _Chat) -> None:
        if chat.bucket is None:
            limits = self.limits
            if chat.type == "private" and limits.private_per_second:
                chat.bucket = _Bucket(limits.private_per_second, limits.private_burst)
            elif chat.type != "private" and limits.group_per_minute:
                chat.bucket = _Bucket(limits.group_per_minute / 60, limits.group_burst)
        buckets = [b for b in (bot.bucket, chat.bucket) if b is not None]
        now = time.monotonic()
        wait = max((b.wait(now) for b in buckets), default=0.0)
        if wait > 0:
            self.rate_limited += 1
            bot.rate_limited += 1
            retry = max(1, math.ceil(wait))
            raise ApiError(429, f"Too Many Requests: retry after {retry}", {"retry_after": retry})
        for b in buckets:
            b.take()

    def _webhook_info(self, bot: _Bot) -> dict[str, Any]:
        info: dict[str, Any] = {"url": bot.webhook_url, "has_custom_certificate": False,
                                "pending_update_count": len(bot.queue)}
        if bot.webhook_url:
            info["max_connections"] = bot.max_connections
            info["ip_address"] = "127.0.0.1"
        if bot.allowed_updates:
            info["allowed_updates"] = list(bot.allowed_updates)
        if bot.last_error_date is not None:
            info["last_error_date"] = bot.last_error_date
            info["last_error_message"] = bot.last_error_message
        return info

    # ---- internals: webhook delivery -----------------------------------------------------------

    def _kick_delivery(self, bot: _Bot) -> None:
        if not bot.webhook_url or self._loop is None or self._closing:
            return
        if bot.delivery is None or bot.delivery.done():
            bot.delivery = self._loop.create_task(self._deliver_loop(bot))

    async def _deliver_loop(self, bot: _Bot) -> None:
        """Post queued updates to the webhook over up to ``max_connections`` connections.

        Like Telegram (setWebhook's max_connections, 40 by default), several updates are in
        flight at once, but never two of the same chat, so each chat's updates arrive in order.
        A failing update is retried with growing gaps (holding its chat back) and dropped after
        the last retry; until delivered it counts as pending.
        """
        busy: set[Any] = set()

        def next_update() -> dict[str, Any] | None:
            for update in bot.queue:
                if id(update) not in busy and _chat_of(update) not in busy:
                    return update
            return None

        async def connection() -> None:
            while bot.webhook_url and not self._closing:
                update = next_update()
                if update is None:
                    return
                chat = _chat_of(update)
                busy.update((id(update), chat))
                try:
                    for attempt in range(len(self.webhook_retry_delays) + 1):
                        error = await self._post_update(bot, update)
                        bot.webhook_log.append({"update_id": update.get("update_id"),
                                                "error": error, "at": time.time()})
                        if error is None or not bot.webhook_url or self._closing:
                            break
                        bot.last_error_date = _now()
                        bot.last_error_message = error
                        if attempt < len(self.webhook_retry_delays):
                            await asyncio.sleep(self.webhook_retry_delays[attempt])
                    with contextlib.suppress(ValueError):
                        bot.queue.remove(update)
                finally:
                    busy.difference_update((id(update), chat))

        try:
            while bot.webhook_url and bot.queue and not self._closing:
                width = max(1, min(bot.max_connections, len(bot.queue)))
                await asyncio.gather(*(connection() for _ in range(width)))
                if next_update() is None and bot.queue:
                    await asyncio.sleep(0.01)
        finally:
            if bot.delivery is asyncio.current_task():
                bot.delivery = None

    async def _post_update(self, bot: _Bot, update: dict[str, Any]) -> str | None:
        if self._http is None:
            # aiohttp, not httpx: the simulator posts every update of a benchmark, and
            # aiohttp's parser in C costs a third of httpx's pure-Python one per request.
            # trust_env stays False: deliveries never go through a proxy from the environment.
            self._http = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.webhook_timeout),
                connector=aiohttp.TCPConnector(limit=2000, limit_per_host=0))
        headers = {"content-type": "application/json"}
        if bot.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = bot.secret_token
        body = json.dumps(update, ensure_ascii=False).encode()
        try:
            async with self._http.post(bot.webhook_url, data=body, headers=headers) as resp:
                await resp.read()
                status, reason = resp.status, resp.reason or ""
        except TimeoutError:
            return "Read timeout expired"
        except aiohttp.ClientConnectorError:
            return "Connection refused"
        except aiohttp.ClientError as exc:
            return f"Connection error: {type(exc).__name__}"
        if 200 <= status < 300:
            return None
        return f"Wrong response from the webhook: {status} {reason}"

    # ---- HTTP: the Bot API ---------------------------------------------------------------------

    @property
    def app(self) -> Starlette:
        if self._app is None:
            self._app = Starlette(
                routes=[
                    Route("/bot{token}/{method}", self._api, methods=["GET", "POST"]),
                    Route("/_sim/{op}", self._control, methods=["GET", "POST"]),
                ],
                lifespan=self._lifespan,
            )
        return self._app

    @asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        self._bind_loop()
        for bot in self._bots.values():
            self._kick_delivery(bot)
        try:
            yield
        finally:
            self._closing = True
            for bot in self._bots.values():
                if bot.delivery is not None:
                    bot.delivery.cancel()
            if self._http is not None:
                await self._http.close()
                self._http = None

    def _bind_loop(self) -> None:
        if self._loop is None or self._loop.is_closed():
            self._loop = asyncio.get_running_loop()
            self._loop_thread = threading.get_ident()
            self._closing = False

    async def _api(self, request: Request) -> Response:
        self._bind_loop()
        bot = self._bots.get(request.path_params["token"])
        if bot is None:
            return ApiError(401, "Unauthorized").response()
        name = _METHODS.get(request.path_params["method"].lower())
        if name is None:
            return ApiError(404, "Not Found").response()
        self.calls[name] += 1
        bot.calls[name] += 1
        if bot.delay:
            await asyncio.sleep(bot.delay)
        fault = next((f for f in bot.faults if f.matches(name)), None)
        if fault is not None:
            bot.faults.remove(fault)
            return fault.response()
        try:
            params = await _read_params(request)
            handler: Callable[..., Any] = getattr(self, f"_do_{name}")
            if name == "getUpdates":
                result = await handler(bot, params, request)
            else:
                result = handler(bot, params)
        except ApiError as exc:
            return exc.response()
        body: dict[str, Any] = {"ok": True}
        if isinstance(result, _Described):
            body["result"] = result.result
            body["description"] = result.description
        else:
            body["result"] = result
        return JSONResponse(body)

    def _do_getMe(self, bot: _Bot, p: dict[str, Any]) -> dict[str, Any]:
        return {**bot.user(), "can_join_groups": True, "can_read_all_group_messages": False,
                "supports_inline_queries": False, "can_connect_to_business": False,
                "has_main_web_app": False}

    def _do_sendMessage(self, bot: _Bot, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._target(bot, p)
        text = _text(p)
        markup = _markup(p)
        reply_to = _reply_target(chat, p)
        self._throttle(bot, chat)
        message = self._message(
            chat, bot.user(), text=text, entities=_json(p, "entities"), reply_markup=markup,
            reply_to_message=_without_reply(reply_to) if reply_to else None)
        bot.sent.append({
            "message_id": message["message_id"], "chat_id": chat.id, "text": text,
            "reply_markup": markup, "reply_to": reply_to["message_id"] if reply_to else None,
            "parse_mode": p.get("parse_mode"), "date": message["date"]})
        return message

    def _do_editMessageText(self, bot: _Bot, p: dict[str, Any]) -> Any:
        if p.get("inline_message_id"):
            return True  # inline messages are not tracked; Telegram answers True for them
        chat = self._target(bot, p)
        message_id = _as_int(p.get("message_id"), "message_id")
        text = _text(p)
        markup = _markup(p)
        message = chat.messages.get(message_id)
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message.get("from", {}).get("id") != bot.id:
            raise ApiError(400, "Bad Request: message can't be edited")
        if message.get("text") == text and message.get("reply_markup") == markup:
            raise ApiError(400, "Bad Request: message is not modified: specified new message "
                           "content and reply markup are exactly the same as a current content "
                           "and reply markup of the message")
        self._throttle(bot, chat)
        edited = {k: v for k, v in message.items() if k not in ("reply_markup", "entities")}
        edited.update({"text": text, "edit_date": _now()})
        if markup is not None:
            edited["reply_markup"] = markup
        chat.remember(edited)
        bot.edits.append({"message_id": message_id, "chat_id": chat.id, "text": text,
                          "reply_markup": markup})
        return edited

    def _do_answerCallbackQuery(self, bot: _Bot, p: dict[str, Any]) -> bool:
        query_id = str(p.get("callback_query_id") or "")
        if query_id not in bot.open_callbacks:
            raise ApiError(400, "Bad Request: query is too old and response timeout expired "
                           "or query ID is invalid")
        bot.open_callbacks.discard(query_id)
        bot.callback_answers.append({"callback_query_id": query_id, "text": p.get("text"),
                                     "show_alert": _bool(p.get("show_alert"))})
        return True

    def _do_createChatInviteLink(self, bot: _Bot, p: dict[str, Any]) -> dict[str, Any]:
        chat = self._target(bot, p)
        if chat.type == "private":
            raise ApiError(400, CHAT_NOT_FOUND)
        link: dict[str, Any] = {
            "invite_link": f"https://t.me/+{secrets.token_urlsafe(12)}", "creator": bot.user(),
            "creates_join_request": _bool(p.get("creates_join_request")),
            "is_primary": False, "is_revoked": False}
        member_limit = p.get("member_limit")
        if member_limit not in (None, ""):
            limit = _as_int(member_limit, "member_limit")
            if not 1 <= limit <= 99_999:
                raise ApiError(400, "Bad Request: member_limit must be between 1 and 99999")
            link["member_limit"] = limit
        if p.get("expire_date") not in (None, ""):
            link["expire_date"] = _as_int(p["expire_date"], "expire_date")
        if p.get("name"):
            link["name"] = str(p["name"])
        bot.invite_links.append({**link, "chat_id": chat.id})
        return link

    def _do_setWebhook(self, bot: _Bot, p: dict[str, Any]) -> _Described:
        url = str(p.get("url") or "")
        if url and not url.startswith(("http://", "https://")):
            raise ApiError(400, "Bad Request: bad webhook: An HTTPS URL must be provided for "
                           "webhook")
        secret = p.get("secret_token") or None
        if secret is not None and not _SECRET_RE.match(str(secret)):
            raise ApiError(400, "Bad Request: secret token contains unallowed characters")
        allowed = _json(p, "allowed_updates")
        if isinstance(allowed, list):
            bot.allowed_updates = [str(a) for a in allowed]
        if p.get("max_connections") not in (None, ""):
            bot.max_connections = _as_int(p["max_connections"], "max_connections")
        if _bool(p.get("drop_pending_updates")):
            bot.queue.clear()
        before = bot.webhook_url
        bot.webhook_url, bot.secret_token = url, secret
        if url != before:
            bot.last_error_date = bot.last_error_message = None
        if not url:
            self._stop_delivery(bot)
            return _Described(True, "Webhook was deleted" if before else
                              "Webhook is already deleted")
        bot.arrived.set()  # a waiting getUpdates now has to answer 409
        self._kick_delivery(bot)
        return _Described(True, "Webhook is already set" if url == before else "Webhook was set")

    def _do_deleteWebhook(self, bot: _Bot, p: dict[str, Any]) -> _Described:
        if _bool(p.get("drop_pending_updates")):
            bot.queue.clear()
        before = bot.webhook_url
        bot.webhook_url, bot.secret_token = "", None
        self._stop_delivery(bot)
        return _Described(True, "Webhook was deleted" if before else "Webhook is already deleted")

    def _do_getWebhookInfo(self, bot: _Bot, p: dict[str, Any]) -> dict[str, Any]:
        return self._webhook_info(bot)

    async def _do_getUpdates(self, bot: _Bot, p: dict[str, Any],
                             request: Request) -> list[dict[str, Any]]:
        if bot.webhook_url:
            raise ApiError(409, CONFLICT_WEBHOOK)
        offset = _as_int(p.get("offset") or 0, "offset")
        limit = min(100, max(1, _as_int(p.get("limit") or 100, "limit")))
        timeout = min(self.max_poll_timeout, max(0.0, _as_float(p.get("timeout") or 0)))
        allowed = _json(p, "allowed_updates")
        if isinstance(allowed, list):
            bot.allowed_updates = [str(a) for a in allowed]
        self._confirm(bot, offset)
        # A newer getUpdates ends an older one still waiting, which answers 409 as in Telegram.
        bot.poll_generation += 1
        generation = bot.poll_generation
        bot.arrived.set()
        bot.arrived.clear()
        deadline = time.monotonic() + timeout
        gone: asyncio.Task[None] | None = None
        try:
            while True:
                if bot.webhook_url:
                    raise ApiError(409, CONFLICT_WEBHOOK)
                if generation != bot.poll_generation:
                    raise ApiError(409, CONFLICT_OTHER_POLL)
                if bot.queue or self._closing:
                    return list(islice(bot.queue, limit))
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return []
                # Notice a poller that hung up, so its request does not linger until timeout.
                gone = gone or asyncio.ensure_future(_disconnected(request))
                arrival = asyncio.ensure_future(bot.arrived.wait())
                done, _ = await asyncio.wait({arrival, gone}, timeout=remaining,
                                             return_when=asyncio.FIRST_COMPLETED)
                arrival.cancel()
                if gone in done:
                    return []
                bot.arrived.clear()
        finally:
            if gone is not None:
                gone.cancel()

    def _stop_delivery(self, bot: _Bot) -> None:
        if bot.delivery is not None:
            bot.delivery.cancel()
            bot.delivery = None

    # ---- HTTP: control API for other processes ---------------------------------------------

    _CONTROL_POST = {
        "bots": "add_bot", "chats": "add_chat", "say": "user_says", "edit": "user_edits",
        "press": "user_presses", "user_blocks": "user_blocks", "user_unblocks": "user_unblocks",
        "kick": "bot_kicked", "add_to_group": "bot_added", "channel_post": "channel_post",
        "deliver": "deliver", "block": "block", "unblock": "unblock",
        "unknown_chat": "mark_unknown", "migrate": "migrate_group", "fail": "fail_next",
        "delay": "delay",
    }
    _CONTROL_GET = {
        "sent": "sent", "edits": "edits", "callback_answers": "callback_answers",
        "invite_links": "invite_links", "pending": "pending", "webhook": "webhook_info",
        "webhook_log": "webhook_log", "stats": "stats", "calls": "bot_calls",
    }

    async def _control(self, request: Request) -> Response:
        """``POST /_sim/<op>`` with the keyword arguments as a JSON object; ``GET /_sim/<op>``
        with them in the query string. ``POST /_sim/bots`` also takes ``{"bots": [...]}``."""
        self._bind_loop()
        op = request.path_params["op"]
        table = self._CONTROL_POST if request.method == "POST" else self._CONTROL_GET
        if op not in table:
            return JSONResponse({"ok": False, "error": f"no such operation: {op}"}, 404)
        try:
            if request.method == "POST":
                raw = await request.body()
                kwargs = json.loads(raw) if raw.strip() else {}
                if not isinstance(kwargs, dict):
                    raise ValueError("body must be a JSON object")
            else:
                kwargs = dict(request.query_params)
                if "chat_id" in kwargs:
                    kwargs["chat_id"] = int(kwargs["chat_id"])
            if op == "bots" and isinstance(kwargs.get("bots"), list):
                result: Any = [self.add_bot(**item) for item in kwargs["bots"]]
            else:
                result = getattr(self, table[op])(**kwargs)
        except (TypeError, ValueError, KeyError) as exc:
            return JSONResponse({"ok": False, "error": str(exc)}, 400)
        return JSONResponse({"ok": True, "result": result})


# ---- helpers ---------------------------------------------------------------------------------


def _now() -> int:
    return int(time.time())


def _user(user_id: int, first_name: str, last_name: str | None = None,
          username: str | None = None) -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if last_name:
        user["last_name"] = last_name
    if username:
        user["username"] = username
    user["language_code"] = "en"
    return user


def _guess_type(chat_id: int) -> str:
    if chat_id > 0:
        return "private"
    # Supergroup and channel ids are -100 followed by the peer id.
    return "supergroup" if chat_id <= -1_000_000_000_000 else "group"


def _forbidden(chat_type: str) -> str:
    if chat_type == "private":
        return "Forbidden: bot was blocked by the user"
    if chat_type == "channel":
        return "Forbidden: bot is not a member of the channel chat"
    return f"Forbidden: bot was kicked from the {chat_type} chat"


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _auto_entities(text: str) -> list[dict[str, Any]]:
    """The entities Telegram's apps attach to plain text: a leading command and @mentions."""
    entities = []
    if command := _COMMAND_RE.match(text):
        entities.append({"offset": 0, "length": _utf16_len(command.group()),
                         "type": "bot_command"})
    for mention in _MENTION_RE.finditer(text):
        if command and mention.start() < command.end():
            continue
        entities.append({"offset": _utf16_len(text[: mention.start()]),
                         "length": _utf16_len(mention.group()), "type": "mention"})
    return entities


def _without_reply(message: dict[str, Any]) -> dict[str, Any]:
    # Telegram nests replied-to messages one level deep only.
    return {k: v for k, v in message.items() if k != "reply_to_message"}


async def _disconnected(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def _read_params(request: Request) -> dict[str, Any]:
    """Parameters from the query string and a JSON, urlencoded or multipart body.

    Form fields are strings; objects such as reply_markup arrive JSON-encoded inside them.
    """
    params: dict[str, Any] = dict(request.query_params)
    if request.method != "POST":
        return params
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype == "application/json":
        raw = await request.body()
        if raw.strip():
            try:
                data = json.loads(raw)
            except ValueError:
                raise ApiError(400, "Bad Request: can't parse JSON object") from None
            if not isinstance(data, dict):
                raise ApiError(400, "Bad Request: JSON object expected")
            params.update(data)
    elif ctype == "application/x-www-form-urlencoded":
        # What aiogram sends when there are no files; parse_qsl is several times faster than
        # Starlette's streaming form parser, and the benchmark pushes thousands of these.
        raw = await request.body()
        params.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    elif ctype == "multipart/form-data":
        form = await request.form()
        params.update({k: v for k, v in form.multi_items() if isinstance(v, str)})
    return params


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            pass
    raise ApiError(400, f"Bad Request: invalid {name} specified")


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ApiError(400, "Bad Request: invalid timeout specified") from None


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1")
    return bool(value)


def _json(params: dict[str, Any], name: str) -> Any:
    value = params.get(name)
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            raise ApiError(400, f"Bad Request: can't parse {name} JSON object") from None
    return value


def _text(params: dict[str, Any]) -> str:
    text = params.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "Bad Request: message text is empty")
    if _utf16_len(text) > TEXT_LIMIT:
        raise ApiError(400, "Bad Request: message is too long")
    return text


def _markup(params: dict[str, Any]) -> dict[str, Any] | None:
    markup = _json(params, "reply_markup")
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise ApiError(400, "Bad Request: can't parse reply keyboard markup JSON object")
    rows = markup.get("inline_keyboard")
    if rows is None:
        return markup
    if not isinstance(rows, list) or not all(isinstance(r, list) for r in rows):
        raise ApiError(400, 'Bad Request: field "inline_keyboard" of the InlineKeyboardMarkup '
                       "must be an Array of Arrays")
    for row in rows:
        for button in row:
            if not isinstance(button, dict) or not button.get("text"):
                raise ApiError(400, "Bad Request: can't parse inline keyboard button: "
                               "Text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and (not isinstance(data, str)
                                     or not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT):
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
            if data is None and len(button) < 2:
                raise ApiError(400, "Bad Request: can't parse inline keyboard button: "
                               "InlineKeyboardButton must have exactly one optional field")
    return markup


def _reply_target(chat: _Chat, params: dict[str, Any]) -> dict[str, Any] | None:
    reply = _json(params, "reply_parameters")
    if isinstance(reply, dict):
        message_id, allow = reply.get("message_id"), _bool(reply.get("allow_sending_without_reply"))
    else:
        message_id = params.get("reply_to_message_id")
        allow = _bool(params.get("allow_sending_without_reply"))
    if message_id in (None, ""):
        return None
    target = chat.messages.get(_as_int(message_id, "reply_to_message_id"))
    if target is None and not allow:
        raise ApiError(400, "Bad Request: message to be replied not found")
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m panelpilot.sim.telegram",
        description="Serve a simulated Telegram Bot API on loopback.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--bot", action="append", default=[], metavar="TOKEN[=USERNAME]",
                        help="register a bot at start (repeatable); more via POST /_sim/bots")
    parser.add_argument("--no-limits", action="store_true", help="turn flood limits off")
    parser.add_argument("--strict-chats", action="store_true",
                        help='unknown chats get "chat not found"')
    args = parser.parse_args(argv)
    sim = TelegramSim(limits=Limits.off() if args.no_limits else None,
                      strict_chats=args.strict_chats)
    for spec in args.bot:
        token, _, username = spec.partition("=")
        sim.add_bot(token, username or None)
    print(f"Telegram Bot API simulator on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(sim.app, host=args.host, port=args.port, log_level="warning",
                access_log=False, timeout_graceful_shutdown=1)


if __name__ == "__main__":
    main()

"""Call the Telegram Bot API through aiogram and turn every failure into ``SendError``.

One ``AiohttpSession`` (one connection pool) serves every bot and carries the base URL from
settings; a ``Bot`` per token is made without a network call and kept in a bounded LRU.
aiogram's ``Bot`` methods make exactly one HTTP request each, with no retries or sleeps of their
own (only its Dispatcher polling backs off, and we do not use it), so the outbox alone decides
when to retry.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import datetime
from typing import Any

import aiohttp
from aiogram import Bot
from aiogram.client.default import DefaultBotProperties
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import (
    AiogramError,
    ClientDecodeError,
    TelegramAPIError,
    TelegramBadRequest,
    TelegramConflictError,
    TelegramEntityTooLarge,
    TelegramForbiddenError,
    TelegramMigrateToChat,
    TelegramNetworkError,
    TelegramNotFound,
    TelegramRetryAfter,
    TelegramServerError,
    TelegramUnauthorizedError,
)
from aiogram.methods import (
    AnswerCallbackQuery,
    CreateChatInviteLink,
    DeleteWebhook,
    EditMessageText,
    GetMe,
    GetWebhookInfo,
    SendMessage,
    SetWebhook,
    TelegramMethod,
)
from aiogram.methods.base import Response, TelegramType
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, ReplyParameters
from aiogram.utils.token import TokenValidationError

from panelpilot.channels.base import (
    BAD_REQUEST,
    BLOCKED,
    CHAT_NOT_FOUND,
    DISCONNECTED,
    MALFORMED,
    MIGRATED,
    NETWORK,
    RATE_LIMITED,
    SERVER_ERROR,
    TIMEOUT,
    Keyboard,
    SendError,
)

TEXT_LIMIT = 4096  # Telegram counts it in UTF-16 code units; splitting is the spine's job
CONFLICT = "conflict"  # 409: getUpdates while a webhook is set, or a second poller
DEFAULT_TIMEOUT = 30.0
# A long poll may legitimately stay open this much longer than the timeout it asked for.
POLL_GRACE = 10.0


class _ServerError(TelegramServerError):
    def __init__(self, method: TelegramMethod[Any], message: str, status_code: int) -> None:
        super().__init__(method=method, message=message)
        self.status_code = status_code


class _Session(AiohttpSession):
    """An AiohttpSession that keeps the HTTP status of 5xx answers.

    Telegram's front proxy answers 502/504 with an HTML page; aiogram alone would report that
    as an undecodable answer, while it is a passing server error worth retrying.
    """

    def check_response(
        self, bot: Bot, method: TelegramMethod[TelegramType], status_code: int, content: str
    ) -> Response[TelegramType]:
        try:
            return super().check_response(
                bot=bot, method=method, status_code=status_code, content=content
            )
        except ClientDecodeError as exc:
            if status_code >= 500:
                raise _ServerError(method, f"HTTP {status_code}", status_code) from exc
            raise
        except TelegramServerError as exc:
            raise _ServerError(method, exc.message, status_code) from exc

    async def close(self) -> None:
        if self.api.base.startswith("https:"):
            await super().close()  # waits 250 ms for TLS connections to shut down cleanly
        elif self._session is not None and not self._session.closed:
            await self._session.close()  # plain HTTP (a local Bot API server, the simulator)


def make_session(
    base_url: str, *, timeout: float = DEFAULT_TIMEOUT, connection_limit: int = 0
) -> AiohttpSession:
    """The shared session. ``connection_limit`` 0 means no cap: every long-polling bot holds a
    connection, and a cap below their number would starve the sends queued behind them."""
    return _Session(
        api=TelegramAPIServer.from_base(base_url), timeout=timeout, limit=connection_limit
    )


class _RawGetUpdates(TelegramMethod[list[dict[str, Any]]]):
    """getUpdates answered as plain dicts, so stored updates keep Telegram's own JSON."""

    __returning__ = list[dict[str, Any]]
    __api_method__ = "getUpdates"

    offset: int | None = None
    limit: int | None = None
    timeout: int | None = None
    allowed_updates: list[str] | None = None


class _SendMessageRaw(SendMessage):
    """sendMessage answered as a plain dict: the outbox needs only its message_id, and
    validating the whole Message model was a tenth of a send's cost."""

    __returning__ = dict[str, Any]


# aiogram validates each answer with ``Response[method.__returning__]``; pydantic keeps such
# parametrized models only while something else refers to them, so without these references it
# built the model anew (~100 µs, and 10 % of a busy sender's time) for almost every call.
_RESPONSE_MODELS = tuple(Response[m.__returning__] for m in (  # type: ignore[name-defined]
    SendMessage, _SendMessageRaw, EditMessageText, AnswerCallbackQuery, SetWebhook,
    DeleteWebhook, GetWebhookInfo, _RawGetUpdates, GetMe, CreateChatInviteLink))


def to_send_error(exc: BaseException) -> SendError:
    """The ``SendError`` that says what an aiogram (or transport) failure means for a retry."""
    detail = exc.message if isinstance(exc, (TelegramAPIError, ClientDecodeError)) else str(exc)
    # Subclasses first: RetryAfter/MigrateToChat carry parameters, EntityTooLarge is a
    # NetworkError in aiogram's tree but a request that can never succeed.
    if isinstance(exc, TelegramRetryAfter):
        return SendError(RATE_LIMITED, detail, retry_after=float(exc.retry_after),
                         status_code=429)
    if isinstance(exc, TelegramMigrateToChat):
        # Not permanent: the same message goes through once re-addressed to migrate_to.
        return SendError(MIGRATED, detail, migrate_to=str(exc.migrate_to_chat_id),
                         status_code=400)
    if isinstance(exc, TelegramForbiddenError):
        return SendError(BLOCKED, detail, permanent=True, status_code=403)
    if isinstance(exc, TelegramBadRequest):
        reason = CHAT_NOT_FOUND if "chat not found" in detail.lower() else BAD_REQUEST
        return SendError(reason, detail, permanent=True, status_code=400)
    if isinstance(exc, TelegramNotFound):
        return SendError(BAD_REQUEST, detail, permanent=True, status_code=404)
    if isinstance(exc, TelegramUnauthorizedError):
        return SendError(DISCONNECTED, detail, permanent=True, status_code=401)
    if isinstance(exc, TelegramConflictError):
        return SendError(CONFLICT, detail, permanent=True, status_code=409)
    if isinstance(exc, TelegramEntityTooLarge):
        return SendError(BAD_REQUEST, detail, permanent=True, status_code=413)
    if isinstance(exc, TelegramNetworkError):
        timed_out = isinstance(exc.__cause__, TimeoutError) or "timeout" in detail.lower()
        return SendError(TIMEOUT if timed_out else NETWORK, detail)
    if isinstance(exc, TelegramServerError):
        return SendError(SERVER_ERROR, detail, status_code=getattr(exc, "status_code", None))
    if isinstance(exc, ClientDecodeError):
        return SendError(MALFORMED, "undecodable answer from the Bot API")
    if isinstance(exc, TimeoutError):
        return SendError(TIMEOUT, detail)
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        return SendError(NETWORK, f"{type(exc).__name__}: {exc}")
    # Any other status (say a 420 from some proxy) is unknown: let the outbox retry it.
    return SendError(SERVER_ERROR, detail)


def _chat_ref(chat_id: str | int) -> int | str:
    # Ids are opaque strings in panelpilot; Telegram wants numbers (or an @channel name).
    if isinstance(chat_id, int):
        return chat_id
    text = chat_id.strip()
    return int(text) if text.lstrip("-").isdigit() else text


def _markup(keyboard: Keyboard | None) -> InlineKeyboardMarkup | None:
    if not keyboard:
        return None
    return InlineKeyboardMarkup(inline_keyboard=[
        [InlineKeyboardButton(text=b.text, callback_data=b.data, url=b.url) for b in row]
        for row in keyboard
    ])


def _dump(obj: Any) -> dict[str, Any]:
    # by_alias restores Telegram's names ("from"), mode="json" turns dates back into unix ints.
    data: dict[str, Any] = obj.model_dump(mode="json", by_alias=True, exclude_none=True)
    return data


class TelegramClient:
    """One bot's calls. Every method raises ``SendError`` on failure, never an aiogram error."""

    def __init__(self, base_url: str, token: str, session: AiohttpSession | None = None) -> None:
        api = TelegramAPIServer.from_base(base_url)
        if session is not None and session.api.base != api.base:
            raise ValueError("session was made for another Bot API base URL")
        self._own_session = session is None
        self.session = session or make_session(base_url)
        try:
            # DefaultBotProperties(): no parse mode, so customer text is never read as markup.
            self.bot = Bot(token, session=self.session, default=DefaultBotProperties())
        except TokenValidationError as exc:
            raise SendError(DISCONNECTED, "malformed bot token", permanent=True) from exc

    async def _call(self, method: TelegramMethod[TelegramType],
                    request_timeout: float | None = None) -> TelegramType:
        try:
            # aiogram types the timeout as int, aiohttp takes any number.
            return await self.bot(method, request_timeout=request_timeout)  # type: ignore[arg-type]
        except (AiogramError, TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise to_send_error(exc) from exc

    async def send_text(self, chat_id: str | int, text: str, *, reply_to: str | None = None,
                        keyboard: Keyboard | None = None) -> str:
        """Send plain text; returns Telegram's message id. ``reply_to`` quotes a message but
        the text still goes if that message is gone."""
        reply = None
        if reply_to is not None:
            try:
                reply = ReplyParameters(message_id=int(reply_to), allow_sending_without_reply=True)
            except ValueError as exc:
                raise SendError(BAD_REQUEST, f"reply_to is not a message id: {reply_to!r}",
                                permanent=True) from exc
        fields: dict[str, Any] = {"chat_id": _chat_ref(chat_id), "text": text,
                                  "reply_markup": _markup(keyboard), "reply_parameters": reply}
        message = await self._call(_SendMessageRaw(**fields))
        if not isinstance(message, dict) or "message_id" not in message:
            raise SendError(MALFORMED, "sendMessage answered without a message_id")
        return str(message["message_id"])

    async def edit_text(self, chat_id: str | int, message_id: str, text: str, *,
                        keyboard: Keyboard | None = None) -> None:
        """Replace the text (and inline keyboard) of a message the bot sent."""
        await self._call(EditMessageText(
            chat_id=_chat_ref(chat_id), message_id=int(message_id), text=text,
            reply_markup=_markup(keyboard)))

    async def answer_callback(self, callback_id: str, text: str | None = None) -> None:

        await self._call(AnswerCallbackQuery(callback_query_id=callback_id, text=text))

    async def set_webhook(self, url: str, secret_token: str | None = None,
                          allowed_updates: list[str] | None = None, *,
                          drop_pending_updates: bool = False) -> None:

        await self._call(SetWebhook(
            url=url, secret_token=secret_token, allowed_updates=allowed_updates,
            drop_pending_updates=drop_pending_updates or None))

    async def delete_webhook(self, *, drop_pending_updates: bool = False) -> None:

        await self._call(DeleteWebhook(drop_pending_updates=drop_pending_updates or None))

    async def get_webhook_info(self) -> dict[str, Any]:
        """WebhookInfo with Telegram's field names: url, pending_update_count, last_error_*."""
        return _dump(await self._call(GetWebhookInfo()))

    # The timeout here is the Bot API's long-poll parameter, not a cancel-after for us.
    async def get_updates(
        self, offset: int | None = None, timeout: int = 0, limit: int = 100,  # noqa: ASYNC109
        allowed_updates: list[str] | None = None,
    ) -> list[dict[str, Any]]:
        """Long-poll for updates, returned as Telegram's raw JSON (ready for split_events).
        ``offset`` confirms every update below it; ``timeout`` is how long Telegram may wait."""
        method = _RawGetUpdates(offset=offset, limit=limit, timeout=timeout,
                                allowed_updates=allowed_updates)
        updates = await self._call(method, request_timeout=timeout + POLL_GRACE)
        return [u for u in updates if isinstance(u, dict)]

    async def get_me(self) -> dict[str, Any]:
        """The bot's own User (id, username, ...); also the cheapest check that a token works."""
        return _dump(await self._call(GetMe()))

    async def create_invite_link(self, chat_id: str | int, member_limit: int | None = 1,
                                 expire_date: datetime | int | None = None,
                                 name: str | None = None) -> str:
        """A new invite link to a group or channel, by default for one person."""
        link = await self._call(CreateChatInviteLink(
            chat_id=_chat_ref(chat_id), member_limit=member_limit, expire_date=expire_date,
            name=name))
        return link.invite_link

    async def close(self) -> None:
        """Close the session if this client made it (a shared one belongs to the pool)."""
        if self._own_session:
            await self.session.close()


class TelegramClients:
    """Clients for many bots over one shared session; ``for_token`` is cheap and cached."""

    def __init__(self, base_url: str, *, max_bots: int = 1024, timeout: float = DEFAULT_TIMEOUT,
                 connection_limit: int = 0) -> None:
        self.base_url = base_url
        self.session = make_session(base_url, timeout=timeout, connection_limit=connection_limit)
        self.max_bots = max_bots
        self._clients: OrderedDict[str, TelegramClient] = OrderedDict()

    def for_token(self, token: str) -> TelegramClient:
        client = self._clients.get(token)
        if client is not None:
            self._clients.move_to_end(token)
            return client
        client = TelegramClient(self.base_url, token, self.session)
        self._clients[token] = client
        if len(self._clients) > self.max_bots:
            # Evicted Bots hold nothing but the token: the session and its pool stay shared.
            self._clients.popitem(last=False)
        return client

    async def close(self) -> None:
        self._clients.clear()
        await self.session.close()

    async def __aenter__(self) -> TelegramClients:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

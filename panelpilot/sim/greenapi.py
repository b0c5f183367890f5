"""A loopback simulator of Green API (WhatsApp), built to the published HTTP API.

It serves ``{base}/waInstance{idInstance}/{method}/{apiTokenInstance}`` for sendMessage,
receiveNotification (a real long poll), deleteNotification, setSettings, getSettings,
getStateInstance and getWaSettings; answers 401 to a wrong instance or token and 429 past the
per-instance rate limits of the docs. Every message the bot sends comes back as an
outgoingAPIMessageReceived echo and outgoingMessageStatus notifications; people "write" with
``user_says``. Notifications queue for receiveNotification, or are POSTed to the webhookUrl with
``Authorization: Bearer <webhookUrlToken>`` and retried, in order, until a 2xx.

Tests drive it from Python (``sim.user_says``, ``sim.fail_next`` ...); other processes use the
JSON control API under ``/_sim``. ``python -m panelpilot.sim.greenapi --port N`` runs it alone.
The control methods are safe to call from any thread: the sim may be served from a thread.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from panelpilot.sim.server import LoopbackServer

TEXT_LIMIT = 20000

# Requests per second per instance, from the docs' rate limiter table.
DEFAULT_RATE_LIMITS: dict[str, float | None] = {
    "sendMessage": 50,
    "receiveNotification": 100,
    "deleteNotification": 100,
    "getSettings": 1,
    "setSettings": 1,
    "getStateInstance": 1,
    "getWaSettings": 1,
}

STATES = ("authorized", "notAuthorized", "blocked", "sleepMode", "starting", "yellowCard")

# States in which sendMessage is refused. Green API answers these with HTTP 400 and a text,
# not with 401 (green-api/issues#571).
_SEND_REFUSED = {
    "notAuthorized": "Instance is not authorized",
    "blocked": "Instance is blocked",
    "starting": "Instance is starting",
}

# Statuses that Green API sends even when outgoingWebhook is off.
_ALWAYS_SENT_STATUSES = frozenset({"failed", "noAccount"})

_NOTIFY_SETTINGS = (
    "incomingWebhook",
    "outgoingWebhook",
    "outgoingAPIMessageWebhook",
    "outgoingMessageWebhook",
    "stateWebhook",
    "editedMessageWebhook",
)

_CLOUDFLARE_PAGE = (
    "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
    "<center><h1>502 Bad Gateway</h1></center><hr><center>cloudflare</center></body></html>"
)

_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@dataclass(frozen=True)
class SentMessage:
    """One accepted sendMessage call."""

    id_message: str
    chat_id: str
    message: str
    quoted_message_id: str | None
    link_preview: bool | None
    timestamp: int


@dataclass(frozen=True)
class WebhookAttempt:
    """One POST of a notification to the webhookUrl."""

    receipt_id: int
    type_webhook: str | None
    status_code: int | None  # None: no HTTP answer (connection refused, timeout)
    error: str | None
    authorization: str | None


@dataclass
class _Notification:
    receipt_id: int
    body: dict[str, Any]


@dataclass
class _Fault:
    status: int
    count: int
    method: str | None  # lowercase method name, or None for any
    body: Any
    headers: dict[str, str]


@dataclass
class _Malformed:
    count: int
    kind: str
    status: int
    method: str | None


@dataclass
class _Instance:
    id_instance: str
    api_token: str
    wid: str
    settings: dict[str, Any]
    state: str = "authorized"
    queue: deque[_Notification] = field(default_factory=deque)
    next_receipt: int = 1
    sent: list[SentMessage] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    too_many: int = 0
    windows: dict[str, deque[float]] = field(default_factory=dict)
    rate_limits: dict[str, float | None] = field(default_factory=dict)
    faults: list[_Fault] = field(default_factory=list)
    malformed: list[_Malformed] = field(default_factory=list)
    delay: float = 0.0
    status_order: tuple[str, ...] = ("sent", "delivered", "read")
    no_account: set[str] = field(default_factory=set)
    # idMessage -> (chat, text, author): fills quotedMessage when someone replies
    messages: dict[str, tuple[str, str, str]] = field(default_factory=dict)
    waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(default_factory=list)
    # wait_until callers: woken on any change (queue, sends, webhook attempts)
    watchers: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(default_factory=list)
    attempts: list[WebhookAttempt] = field(default_factory=list)
    wake: asyncio.Event | None = None  # deliverer: new notification or new settings
    settings_changed: asyncio.Event | None = None  # deliverer: cut a retry pause short
    task: asyncio.Task[None] | None = None

    @property
    def instance_data(self) -> dict[str, Any]:
        number: int | str = (
            int(self.id_instance) if self.id_instance.isdigit() else self.id_instance
        )
        return {"idInstance": number, "wid": self.wid, "typeInstance": "whatsapp"}

    def on(self, setting: str) -> bool:
        return str(self.settings.get(setting, "no")).lower() == "yes"


def _new_settings(wid: str, notifications: bool) -> dict[str, Any]:
    flag = "yes" if notifications else "no"
    settings: dict[str, Any] = {
        "wid": wid,
        "countryInstance": "",
        "typeAccount": "",
        "webhookUrl": "",
        "webhookUrlToken": "",
        "delaySendMessagesMilliseconds": 5000,
        "markIncomingMessagesReaded": "no",
        "markIncomingMessagesReadedOnReply": "no",
        "sharedSession": "no",
        "deviceWebhook": "no",
        "statusInstanceWebhook": "no",
        "enableMessagesHistory": "no",
        "keepOnlineStatus": "no",
        "pollMessageWebhook": "no",
        "incomingBlockWebhook": "no",
        "incomingCallWebhook": "no",
        "deletedMessageWebhook": "no",
    }
    for name in _NOTIFY_SETTINGS:
        settings[name] = flag
    return settings


def _now() -> int:
    return int(time.time())


def _error(status: int, description: str, headers: Mapping[str, str] | None = None) -> Response:
    return JSONResponse({"code": status, "description": description}, status, headers=headers)


def _call_soon(loop: asyncio.AbstractEventLoop, callback: Callable[[], Any]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting any more
        loop.call_soon_threadsafe(callback)


class GreenApiSim:
    """The simulator; ``app`` is the Starlette app to serve with LoopbackServer."""

    def __init__(
        self,
        *,
        rate_limits: Mapping[str, float | None] | None = None,
        webhook_retry_interval: float = 60.0,
        webhook_timeout: float = 10.0,
        receive_timeout_scale: float = 1.0,
        allow_remote_webhooks: bool = False,
    ) -> None:
        """``rate_limits`` overrides the docs' per-second limits (None: unlimited).

        Green API retries a failed webhook every minute (``webhook_retry_interval``);
        ``receive_timeout_scale`` shrinks receiveNotification's 5..60 s wait for fast tests.
        """
        limits = dict(DEFAULT_RATE_LIMITS)
        limits.update(rate_limits or {})
        self._rate_limits = {name.lower(): value for name, value in limits.items()}
        self.webhook_retry_interval = webhook_retry_interval
        self.webhook_timeout = webhook_timeout
        self.receive_timeout_scale = receive_timeout_scale
        self.allow_remote_webhooks = allow_remote_webhooks
        self._lock = threading.Lock()
        self._instances: dict[str, _Instance] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._http: httpx.AsyncClient | None = None
        self.app = self._build_app()

    # ----------------------------------------------------------------- setup and faults

    def add_instance(
        self,
        id_instance: str | int,
        api_token: str,
        wid: str = "79001234567@c.us",
        *,
        notifications: bool = True,
    ) -> None:
        """Register an authorized instance.

        A real new instance has every notification setting off; ``notifications=True`` (the
        default, for convenience) starts with incoming, outgoing and state notifications on.
        """
        key = str(id_instance)
        inst = _Instance(
            id_instance=key,
            api_token=api_token,
            wid=wid,
            settings=_new_settings(wid, notifications),
            rate_limits=dict(self._rate_limits),
        )
        with self._lock:
            self._instances[key] = inst
            loop = self._loop
        if loop is not None:
            _call_soon(loop, lambda: self._start_deliverer(inst))

    def fail_next(
        self,
        id_instance: str | int,
        status: int,
        count: int = 1,
        *,
        method: str | None = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """The next ``count`` calls (of ``method``, or any) answer ``status``."""
        fault = _Fault(
            status=status,
            count=count,
            method=method.lower() if method else None,
            body=body,
            headers=dict(headers or {}),
        )
        with self._lock:
            self._get(id_instance).faults.append(fault)

    def malformed_next(
        self,
        id_instance: str | int,
        count: int = 1,
        *,
        kind: str = "html",
        status: int = 200,
        method: str | None = None,
    ) -> None:
        """The next calls answer garbage: ``html`` (a proxy page), ``truncated`` JSON, ``empty``."""
        if kind not in ("html", "truncated", "empty"):
            raise ValueError(f"unknown malformed kind {kind!r}")
        item = _Malformed(
            count=count, kind=kind, status=status, method=method.lower() if method else None
        )
        with self._lock:
            self._get(id_instance).malformed.append(item)

    def delay(self, id_instance: str | int, seconds: float) -> None:
        """Hold every answer of this instance for ``seconds`` (0 to stop)."""
        with self._lock:
            self._get(id_instance).delay = max(0.0, seconds)

    def set_rate_limit(
        self, id_instance: str | int, per_second: float | None, method: str = "sendMessage"
    ) -> None:
        with self._lock:
            inst = self._get(id_instance)
            inst.rate_limits[method.lower()] = per_second
            inst.windows.pop(method.lower(), None)

    def set_state(self, id_instance: str | int, state: str) -> None:
        """Change the account state; a stateInstanceChanged notification follows."""
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}; one of {', '.join(STATES)}")
        with self._lock:
            inst = self._get(id_instance)
            if inst.state == state:
                return
            inst.state = state
            if inst.on("stateWebhook"):
                self._push(
                    inst,
                    {
                        "typeWebhook": "stateInstanceChanged",
                        "instanceData": inst.instance_data,
                        "timestamp": _now(),
                        "stateInstance": state,
                    },
                )

    def set_status_order(self, id_instance: str | int, order: Iterable[str]) -> None:
        """Statuses that follow each send, in this order; ("read", "sent") delivers out of order."""
        with self._lock:
            self._get(id_instance).status_order = tuple(order)

    def set_no_account(self, id_instance: str | int, chat_id: str) -> None:
        """Sends to ``chat_id`` get the noAccount status (no WhatsApp account)."""
        with self._lock:
            self._get(id_instance).no_account.add(chat_id)

    # ----------------------------------------------------------------- people and events

    def user_says(
        self,
        id_instance: str | int,
        chat_id: str,
        text: str,
        *,
        sender: str | None = None,
        sender_name: str = "Customer",
        sender_contact_name: str | None = None,
        chat_name: str | None = None,
        group: bool = False,
        quoted_message_id: str | None = None,
        extended: bool = False,
        id_message: str | None = None,
    ) -> str:
        """A person writes ``text`` in ``chat_id``; returns the incoming idMessage."""
        if "@" not in chat_id:
            chat_id += "@g.us" if group else "@c.us"
        group = group or chat_id.endswith("@g.us")
        if sender is None:
            sender = "79990000001@c.us" if group else chat_id
        id_message = id_message or secrets.token_hex(16).upper()
        group_name = f"Group {chat_id.split('@')[0]}"
        message_data: dict[str, Any]
        with self._lock:
            inst = self._get(id_instance)
            quoted = self._quoted(inst, quoted_message_id) if quoted_message_id else None
            if quoted is not None:
                # the shape Green API still sends for a reply: typeMessage quotedMessage
                message_data = {
                    "typeMessage": "quotedMessage",
                    "extendedTextMessageData": {
                        "text": text,
                        "stanzaId": quoted_message_id,
                        "participant": quoted["participant"],
                    },
                    "quotedMessage": quoted,
                }
            elif extended:
                message_data = {
                    "typeMessage": "extendedTextMessage",
                    "extendedTextMessageData": _extended(text),
                }
            else:
                message_data = {
                    "typeMessage": "textMessage",
                    "textMessageData": {"textMessage": text},
                }
            body = {
                "typeWebhook": "incomingMessageReceived",
                "instanceData": inst.instance_data,
                "timestamp": _now(),
                "idMessage": id_message,
                "senderData": {
                    "chatId": chat_id,
                    "chatName": chat_name or (group_name if group else sender_name),
                    "sender": sender,
                    "senderName": sender_name,
                    "senderContactName": sender_contact_name or "",
                },
                "messageData": message_data,
            }
            inst.messages[id_message] = (chat_id, text, sender)
            if inst.on("incomingWebhook"):
                self._push(inst, body)
        return id_message

    def user_edits(
        self,
        id_instance: str | int,
        chat_id: str,
        original_id: str,
        new_text: str,
        *,
        sender: str | None = None,
        sender_name: str = "Customer",
    ) -> str:
        """A person edits an earlier message; returns the edit notification's idMessage."""
        if "@" not in chat_id:
            chat_id += "@c.us"
        id_message = secrets.token_hex(8).upper()
        with self._lock:
            inst = self._get(id_instance)
            body = {
                "typeWebhook": "incomingMessageReceived",
                "instanceData": inst.instance_data,
                "timestamp": _now(),
                "idMessage": id_message,
                "senderData": {
                    "chatId": chat_id,
                    "chatName": sender_name,
                    "sender": sender or chat_id,
                    "senderName": sender_name,
                    "senderContactName": "",
                },
                "messageData": {
                    "typeMessage": "editedMessage",
                    "editedMessageData": {"textMessage": new_text, "stanzaId": original_id},
                },
            }
            if inst.on("incomingWebhook"):
                self._push(inst, body)
        return id_message

    def emit_status(
        self,
        id_instance: str | int,
        id_message: str,
        status: str,
        *,
        chat_id: str | None = None,
        description: str | None = None,
    ) -> None:
        """An outgoingMessageStatus for one of our messages (e.g. a late "failed")."""
        with self._lock:
            inst = self._get(id_instance)
            if chat_id is None:
                chat_id = next((s.chat_id for s in inst.sent if s.id_message == id_message), "")
            self._push_status(inst, chat_id, id_message, status, description)

    def push_notification(self, id_instance: str | int, body: dict[str, Any]) -> None:
        """Queue any notification body as is (images, calls, odd payloads)."""
        with self._lock:
            self._push(self._get(id_instance), body)

    # ----------------------------------------------------------------- recordings

    def sent(self, id_instance: str | int, chat_id: str | None = None) -> list[SentMessage]:
        with self._lock:
            return [
                s for s in self._get(id_instance).sent if chat_id is None or s.chat_id == chat_id
            ]

    def calls(self, id_instance: str | int, method: str | None = None) -> int:
        """API calls that reached this instance (with the right token), of ``method`` or all."""
        with self._lock:
            counter = self._get(id_instance).calls
            return counter[method.lower()] if method else sum(counter.values())

    def count_429(self, id_instance: str | int) -> int:
        with self._lock:
            return self._get(id_instance).too_many

    def pending(self, id_instance: str | int) -> list[dict[str, Any]]:
        """Notifications still queued (not yet deleted or delivered)."""
        with self._lock:
            return [n.body for n in self._get(id_instance).queue]

    def webhook_attempts(self, id_instance: str | int) -> list[WebhookAttempt]:
        with self._lock:
            return list(self._get(id_instance).attempts)

    def state(self, id_instance: str | int) -> str:
        with self._lock:
            return self._get(id_instance).state

    def settings(self, id_instance: str | int) -> dict[str, Any]:
        """The instance's settings, as getSettings answers them."""
        with self._lock:
            return dict(self._get(id_instance).settings)

    async def wait_until(
        self, id_instance: str | int, condition: Callable[[], bool], within: float = 5.0
    ) -> None:
        """Wait until ``condition()`` holds, re-checking whenever this instance changes.

        ``condition`` may call the recording methods (``sent``, ``pending``, ...). Raises
        TimeoutError after ``within`` seconds.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            event = asyncio.Event()
            with self._lock:
                self._get(id_instance).watchers.append((loop, event))
            try:
                if condition():
                    return
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError("condition not met in time")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
            finally:
                with self._lock, contextlib.suppress(ValueError):
                    self._get(id_instance).watchers.remove((loop, event))

    # ----------------------------------------------------------------- internals (lock held)

    def _get(self, id_instance: str | int) -> _Instance:
        inst = self._instances.get(str(id_instance))
        if inst is None:
            raise KeyError(f"no instance {id_instance}")
        return inst

    def _push(self, inst: _Instance, body: dict[str, Any]) -> None:
        inst.queue.append(_Notification(inst.next_receipt, body))
        inst.next_receipt += 1
        self._wake(inst)

    def _wake(self, inst: _Instance) -> None:
        for loop, event in inst.waiters:
            _call_soon(loop, event.set)
        inst.waiters.clear()
        if self._loop is not None and inst.wake is not None:
            _call_soon(self._loop, inst.wake.set)
        self._changed(inst)

    def _changed(self, inst: _Instance) -> None:
        for loop, event in inst.watchers:
            _call_soon(loop, event.set)
        inst.watchers.clear()

    def _quoted(self, inst: _Instance, id_message: str) -> dict[str, Any]:
        _, text, author = inst.messages.get(id_message, ("", "", inst.wid))
        return {
            "stanzaId": id_message,
            "participant": author,
            "typeMessage": "textMessage",
            "textMessage": text,
        }

    def _push_status(
        self,
        inst: _Instance,
        chat_id: str,
        id_message: str,
        status: str,
        description: str | None = None,
    ) -> None:
        if not (inst.on("outgoingWebhook") or status in _ALWAYS_SENT_STATUSES):
            return
        body: dict[str, Any] = {
            "typeWebhook": "outgoingMessageStatus",
            "chatId": chat_id,
            "instanceData": inst.instance_data,
            "timestamp": _now(),
            "idMessage": id_message,
            "status": status,
            "sendByApi": True,
        }
        if description:
            body["description"] = description
        self._push(inst, body)

    def _record_send(
        self, inst: _Instance, chat_id: str, message: str, quoted: str | None, preview: bool | None
    ) -> str:
        id_message = "BAE5" + secrets.token_hex(6).upper()
        timestamp = _now()
        inst.sent.append(SentMessage(id_message, chat_id, message, quoted, preview, timestamp))
        inst.messages[id_message] = (chat_id, message, inst.wid)
        if inst.on("outgoingAPIMessageWebhook"):
            data: dict[str, Any] = {
                "typeMessage": "extendedTextMessage",
                "extendedTextMessageData": _extended(message),
            }
            if quoted:
                data["quotedMessage"] = self._quoted(inst, quoted)
            self._push(
                inst,
                {
                    "typeWebhook": "outgoingAPIMessageReceived",
                    "instanceData": inst.instance_data,
                    "timestamp": timestamp,
                    "idMessage": id_message,
                    "senderData": {
                        "chatId": chat_id,
                        "chatName": "",
                        "sender": inst.wid,
                        "senderName": "",
                        "senderContactName": "",
                    },
                    "messageData": data,
                },
            )
        if chat_id in inst.no_account:
            self._push_status(inst, chat_id, id_message, "noAccount")
        else:
            for status in inst.status_order:
                self._push_status(inst, chat_id, id_message, status)
        self._changed(inst)
        return id_message

    def _take_fault(self, inst: _Instance, method: str) -> _Fault | _Malformed | None:
        for fault in inst.faults:
            if fault.method is None or fault.method == method:
                fault.count -= 1
                if fault.count <= 0:
                    inst.faults.remove(fault)
                return fault
        for garbage in inst.malformed:
            if garbage.method is None or garbage.method == method:
                garbage.count -= 1
                if garbage.count <= 0:
                    inst.malformed.remove(garbage)
                return garbage
        return None

    def _over_limit(self, inst: _Instance, method: str) -> bool:
        limit = inst.rate_limits.get(method)
        if limit is None or limit <= 0:
            return False
        # 0.1 rps means one call per 10 s
        span = max(1.0, 1.0 / limit)
        allowed = max(1, int(limit * span))
        now = time.monotonic()
        window = inst.windows.setdefault(method, deque())
        while window and now - window[0] >= span:
            window.popleft()
        if len(window) >= allowed:
            return True
        window.append(now)
        return False

    # ----------------------------------------------------------------- the API

    def _build_app(self) -> Starlette:
        verbs = ["GET", "POST", "DELETE", "PUT", "PATCH"]
        routes = [
            Route("/waInstance{id_instance}/{method}/{token}", self._api, methods=verbs),
            Route("/waInstance{id_instance}/{method}/{token}/{extra}", self._api, methods=verbs),
            Route("/_sim/instances", self._ctl_add, methods=["POST"]),
            Route("/_sim/instances/{id_instance}/stats", self._ctl_stats, methods=["GET"]),
            Route("/_sim/instances/{id_instance}/sent", self._ctl_sent, methods=["GET"]),
            Route("/_sim/instances/{id_instance}/{action}", self._ctl_action, methods=["POST"]),
        ]
        return Starlette(routes=routes, lifespan=self._lifespan)

    @contextlib.asynccontextmanager
    async def _lifespan(self, app: Starlette) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        self._http = httpx.AsyncClient(timeout=self.webhook_timeout)
        with self._lock:
            self._loop = loop
            instances = list(self._instances.values())
        for inst in instances:
            self._start_deliverer(inst)
        try:
            yield
        finally:
            with self._lock:
                self._loop = None
                tasks = [i.task for i in self._instances.values() if i.task is not None]
                for inst in self._instances.values():
                    inst.task = inst.wake = inst.settings_changed = None
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._http.aclose()
            self._http = None

    async def _api(self, request: Request) -> Response:
        params = request.path_params
        method = str(params["method"]).lower()
        delay = 0.0
        with self._lock:
            inst = self._instances.get(str(params["id_instance"]))
            if inst is None or not secrets.compare_digest(
                inst.api_token.encode(), str(params["token"]).encode()
            ):
                inst = None
            else:
                inst.calls[method] += 1
                delay = inst.delay
        if inst is None:
            return _error(401, "Unauthorized")
        if delay:
            await asyncio.sleep(delay)
        with self._lock:
            fault = self._take_fault(inst, method)
            limited = fault is None and self._over_limit(inst, method)
            if limited:
                inst.too_many += 1
        if isinstance(fault, _Fault):
            if fault.body is None:
                return _error(fault.status, f"simulated error {fault.status}", fault.headers)
            return JSONResponse(fault.body, fault.status, headers=fault.headers)
        if isinstance(fault, _Malformed):
            return _malformed(fault)
        if limited:
            return _error(429, "Too Many Requests")
        handler = self._handlers.get(method)
        if handler is None:
            return _error(404, f"method {params['method']} not found")
        verb, func = handler
        extra = params.get("extra")
        if request.method != verb or (extra is not None and method != "deletenotification"):
            return _error(405, "Method Not Allowed")
        return await func(self, inst, request)

    async def _send_message(self, inst: _Instance, request: Request) -> Response:
        body = await _json_object(request)
        if body is None:
            return _error(400, "Validation failed. Details: request body must be a JSON object")
        chat_id = body.get("chatId")
        message = body.get("message")
        quoted = body.get("quotedMessageId")
        preview = body.get("linkPreview")
        if not isinstance(chat_id, str) or not chat_id.endswith(("@c.us", "@g.us", "@lid")):
            return _error(
                400, "Validation failed. Details: 'chatId' is required and must be a chat id"
            )
        if not isinstance(message, str) or not message:
            return _error(400, "Validation failed. Details: 'message' is required")
        if len(message) > TEXT_LIMIT:
            return _error(
                400,
                "Validation failed. Details: 'message' length must be less than or equal to "
                f"{TEXT_LIMIT} characters long",
            )
        if quoted is not None and not isinstance(quoted, str):
            return _error(400, "Validation failed. Details: 'quotedMessageId' must be a string")
        if preview is not None and not isinstance(preview, bool):
            return _error(400, "Validation failed. Details: 'linkPreview' must be a boolean")
        with self._lock:
            refused = _SEND_REFUSED.get(inst.state)
            if refused is None:
                id_message = self._record_send(inst, chat_id, message, quoted, preview)
        if refused is not None:
            return _error(400, refused)
        return JSONResponse({"idMessage": id_message})

    async def _receive_notification(self, inst: _Instance, request: Request) -> Response:
        raw = request.query_params.get("receiveTimeout", "5")
        try:
            seconds = int(raw)
        except ValueError:
            return _error(400, "Validation failed. Details: 'receiveTimeout' must be an integer")
        seconds = max(5, min(60, seconds))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds * self.receive_timeout_scale
        while True:
            event = asyncio.Event()
            with self._lock:
                # with a webhookUrl set the queue belongs to the webhook sender
                if inst.queue and not inst.settings.get("webhookUrl"):
                    head = inst.queue[0]
                    return JSONResponse({"receiptId": head.receipt_id, "body": head.body})
                inst.waiters.append((loop, event))
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    return JSONResponse(None)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), remaining)
            finally:
                with self._lock, contextlib.suppress(ValueError):
                    inst.waiters.remove((loop, event))

    async def _delete_notification(self, inst: _Instance, request: Request) -> Response:
        try:
            receipt_id = int(str(request.path_params.get("extra")))
        except ValueError:
            return _error(400, "Validation failed. Details: receiptId must be an integer")
        with self._lock:
            for item in inst.queue:
                if item.receipt_id == receipt_id:
                    inst.queue.remove(item)
                    self._changed(inst)
                    return JSONResponse({"result": True})
        return JSONResponse({"result": False})

    async def _set_settings(self, inst: _Instance, request: Request) -> Response:
        body = await _json_object(request)
        if not body:
            return _error(400, "Validation failed. Details: at least one setting is required")
        url = body.get("webhookUrl")
        if url is not None:
            if not isinstance(url, str):
                return _error(400, "Validation failed. Details: 'webhookUrl' must be a string")
            if url and not self._webhook_url_allowed(url):
                return _error(
                    400, "Validation failed. Details: the simulator only calls loopback webhooks"
                )
        with self._lock:
            for name, value in body.items():
                if name != "wid":
                    inst.settings[name] = value
            if self._loop is not None and inst.settings_changed is not None:
                _call_soon(self._loop, inst.settings_changed.set)
            self._wake(inst)
        return JSONResponse({"saveSettings": True})

    async def _get_settings(self, inst: _Instance, request: Request) -> Response:
        with self._lock:
            return JSONResponse(dict(inst.settings))

    async def _get_state(self, inst: _Instance, request: Request) -> Response:
        with self._lock:
            return JSONResponse({"stateInstance": inst.state})

    async def _get_wa_settings(self, inst: _Instance, request: Request) -> Response:
        with self._lock:
            return JSONResponse(
                {
                    "avatar": "",
                    "phone": inst.wid.split("@")[0],
                    "stateInstance": inst.state,
                    "deviceId": "",
                }
            )

    _handlers: dict[str, tuple[str, Callable[[GreenApiSim, _Instance, Request], Any]]] = {
        "sendmessage": ("POST", _send_message),
        "receivenotification": ("GET", _receive_notification),
        "deletenotification": ("DELETE", _delete_notification),
        "setsettings": ("POST", _set_settings),
        "getsettings": ("GET", _get_settings),
        "getstateinstance": ("GET", _get_state),
        "getwasettings": ("GET", _get_wa_settings),
    }

    def _webhook_url_allowed(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return False
        return self.allow_remote_webhooks or parts.hostname in _LOOPBACK_HOSTS

    # ----------------------------------------------------------------- webhook delivery

    def _start_deliverer(self, inst: _Instance) -> None:
        """Runs in the server loop: one sender per instance keeps notifications in order."""
        if inst.task is not None:
            return
        inst.wake = asyncio.Event()
        inst.settings_changed = asyncio.Event()
        inst.task = asyncio.get_running_loop().create_task(self._deliver(inst))

    async def _deliver(self, inst: _Instance) -> None:
        wake, settings_changed = inst.wake, inst.settings_changed
        assert wake is not None and settings_changed is not None
        while True:
            with self._lock:
                wake.clear()
                url = str(inst.settings.get("webhookUrl") or "")
                token = str(inst.settings.get("webhookUrlToken") or "")
                head = inst.queue[0] if inst.queue else None
            if not url or head is None:
                await wake.wait()
                continue
            if await self._post(inst, url, token, head):
                with self._lock:
                    with contextlib.suppress(ValueError):
                        inst.queue.remove(head)
                    self._changed(inst)
                continue
            # Green API tries again a minute later; a settings change cuts the pause short
            settings_changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(settings_changed.wait(), self.webhook_retry_interval)

    async def _post(self, inst: _Instance, url: str, token: str, item: _Notification) -> bool:
        assert self._http is not None
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        status: int | None = None
        error: str | None = None
        try:
            response = await self._http.post(url, json=item.body, headers=headers)
            status = response.status_code
        except httpx.HTTPError as exc:
            error = type(exc).__name__
        with self._lock:
            inst.attempts.append(
                WebhookAttempt(
                    receipt_id=item.receipt_id,
                    type_webhook=item.body.get("typeWebhook"),
                    status_code=status,
                    error=error,
                    authorization=headers.get("Authorization"),
                )
            )
            self._changed(inst)
        return status is not None and 200 <= status < 300

    # ----------------------------------------------------------------- control API

    async def _ctl_add(self, request: Request) -> Response:
        body = await _json_object(request) or {}
        id_instance = body.get("idInstance")
        token = body.get("apiTokenInstance")
        if id_instance is None or not isinstance(token, str) or not token:
            return JSONResponse({"error": "idInstance and apiTokenInstance are required"}, 400)
        self.add_instance(
            str(id_instance),
            token,
            str(body.get("wid") or "79001234567@c.us"),
            notifications=bool(body.get("notifications", True)),
        )
        return JSONResponse({"ok": True})

    async def _ctl_stats(self, request: Request) -> Response:
        id_instance = request.path_params["id_instance"]
        try:
            with self._lock:
                inst = self._get(id_instance)
                stats = {
                    "calls": dict(inst.calls),
                    "count429": inst.too_many,
                    "pending": len(inst.queue),
                    "stateInstance": inst.state,
                    "webhookAttempts": len(inst.attempts),
                    "sent": len(inst.sent),
                }
        except KeyError:
            return JSONResponse({"error": f"no instance {id_instance}"}, 404)
        return JSONResponse(stats)

    async def _ctl_sent(self, request: Request) -> Response:
        id_instance = request.path_params["id_instance"]
        try:
            sent = self.sent(id_instance, request.query_params.get("chatId"))
        except KeyError:
            return JSONResponse({"error": f"no instance {id_instance}"}, 404)
        return JSONResponse(
            [
                {
                    "idMessage": s.id_message,
                    "chatId": s.chat_id,
                    "message": s.message,
                    "quotedMessageId": s.quoted_message_id,
                    "linkPreview": s.link_preview,
                    "timestamp": s.timestamp,
                }
                for s in sent
            ]
        )

    async def _ctl_action(self, request: Request) -> Response:
        id_instance = request.path_params["id_instance"]
        action = request.path_params["action"]
        body = await _json_object(request) or {}
        try:
            result = self._control(id_instance, action, body)
        except KeyError as exc:
            return JSONResponse({"error": str(exc).strip("'\"")}, 404)
        except (TypeError, ValueError) as exc:
            return JSONResponse({"error": str(exc)}, 400)
        return JSONResponse({"ok": True, **result})

    def _control(self, id_instance: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        if action == "user_says":
            id_message = self.user_says(
                id_instance,
                str(body["chatId"]),
                str(body["text"]),
                sender=body.get("sender"),
                sender_name=str(body.get("senderName", "Customer")),
                chat_name=body.get("chatName"),
                group=bool(body.get("group", False)),
                quoted_message_id=body.get("quotedMessageId"),
                extended=bool(body.get("extended", False)),
            )
            return {"idMessage": id_message}
        if action == "fail_next":
            self.fail_next(
                id_instance,
                int(body["status"]),
                int(body.get("count", 1)),
                method=body.get("method"),
                body=body.get("body"),
                headers=body.get("headers"),
            )
        elif action == "malformed_next":
            self.malformed_next(
                id_instance,
                int(body.get("count", 1)),
                kind=str(body.get("kind", "html")),
                status=int(body.get("status", 200)),
                method=body.get("method"),
            )
        elif action == "delay":
            self.delay(id_instance, float(body.get("seconds", 0)))
        elif action == "state":
            self.set_state(id_instance, str(body["stateInstance"]))
        elif action == "rate_limit":
            per_second = body.get("perSecond")
            self.set_rate_limit(
                id_instance,
                None if per_second is None else float(per_second),
                str(body.get("method", "sendMessage")),
            )
        elif action == "status_order":
            self.set_status_order(id_instance, [str(s) for s in body.get("order", [])])
        elif action == "status":
            self.emit_status(
                id_instance,
                str(body["idMessage"]),
                str(body["status"]),
                chat_id=body.get("chatId"),
                description=body.get("description"),
            )
        elif action == "notify":
            notification = body.get("body")
            if not isinstance(notification, dict):
                raise ValueError("body must be an object")
            self.push_notification(id_instance, notification)
        else:
            raise ValueError(f"unknown action {action!r}")
        return {}


def _extended(text: str) -> dict[str, Any]:
    return {
        "text": text,
        "description": "",
        "title": "",
        "previewType": "None",
        "jpegThumbnail": "",
        "forwardingScore": 0,
        "isForwarded": False,
    }


async def _json_object(request: Request) -> dict[str, Any] | None:
    raw = await request.body()
    try:
        value = json.loads(raw) if raw else None
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _malformed(item: _Malformed) -> Response:
    if item.kind == "html":
        return Response(_CLOUDFLARE_PAGE, item.status, media_type="text/html")
    if item.kind == "truncated":
        return Response('{"idMessage": "BAE5', item.status, media_type="application/json")
    return Response(b"", item.status, media_type="application/json")


# --------------------------------------------------------------------- standalone


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m panelpilot.sim.greenapi", description="Serve a Green API simulator."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--instance",
        action="append",
        default=[],
        metavar="ID:TOKEN[:WID]",
        help="register an instance (repeatable)",
    )
    parser.add_argument("--webhook-retry", type=float, default=60.0, help="seconds between retries")
    return parser.parse_args(argv)


async def _serve(args: argparse.Namespace) -> None:
    sim = GreenApiSim(webhook_retry_interval=args.webhook_retry)
    for spec in args.instance:
        id_instance, _, rest = spec.partition(":")
        token, _, wid = rest.partition(":")
        if not id_instance or not token:
            raise SystemExit(f"--instance wants ID:TOKEN[:WID], got {spec!r}")
        sim.add_instance(id_instance, token, wid or "79001234567@c.us")
    server = LoopbackServer(sim.app, host=args.host, port=args.port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    url = await server.start()
    print(f"Green API simulator on {url}", flush=True)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(_serve(_parse_args(argv)))


if __name__ == "__main__":
    main()

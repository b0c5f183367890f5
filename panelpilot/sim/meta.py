"""A loopback simulator of the Meta Graph API as the WhatsApp Cloud API uses it.

It answers ``POST /{version}/{phone_number_id}/messages`` the way Meta does, errors included
(bad token, unknown number, the 24-hour customer service window, throughput and pair limits,
injected faults, HTML instead of JSON), and plays Meta's side of webhooks: the GET verification
handshake, signed inbound messages and button replies (retried on non-2xx), delivery statuses for
every send, and Business-app echoes. A sim clock (``advance``) moves users out of the window
without waiting. ``/_sim/...`` is a JSON control API for other processes;
``python -m panelpilot.sim.meta --port N`` runs it standalone.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import re
import secrets
import signal
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from panelpilot.channels.meta.signature import sign
from panelpilot.sim.server import LoopbackServer

log = logging.getLogger(__name__)

DEFAULT_THROUGHPUT = 80  # messages per second per business number, Meta's default
WINDOW_SECONDS = 24 * 3600
TEXT_LIMIT = 4096
STATUS_SEQUENCE = ("sent", "delivered", "read")
STATUS_MODES = ("each", "batched", "reversed", "off")
ERROR_HREF = "https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes/"
_VERSION = re.compile(r"^v\d+(\.\d+)?$")
_PHONE = re.compile(r"^\+?[\d\s().-]+$")

# (title, details) per Cloud API error code, worded after Meta's error reference.
_ERRORS: dict[int, tuple[str, str]] = {
    1: ("API Unknown", "Invalid request or possible server error."),
    2: ("API Service", "Temporary due to downtime or due to being overloaded."),
    4: ("API Too Many Calls", "The app has reached its API call rate limit."),
    10: ("Permission Denied", "Permission is either not granted or has been removed."),
    100: (
        "Invalid parameter",
        "The request included one or more unsupported or misspelled parameters.",
    ),
    190: ("Access token has expired", "Invalid OAuth access token - Cannot parse access token"),
    80007: ("Rate limit issues", "The WhatsApp Business Account has reached its rate limit."),
    130429: ("Rate limit hit", "Cloud API message throughput has been reached."),
    131000: ("Something went wrong", "Message failed to send due to an unknown error."),
    131008: ("Required parameter is missing", "The request is missing a required parameter."),
    131009: ("Parameter value is not valid", "One or more parameter values are invalid."),
    131026: ("Message undeliverable", "Message Undeliverable."),
    131030: (
        "Recipient phone number not in allowed list",
        "Recipient phone number not in allowed list: Add recipient phone number to recipient "
        "list and try again.",
    ),
    131047: (
        "Re-engagement message",
        "Message failed to send because more than 24 hours have passed since the customer last "
        "replied to this number.",
    ),
    131056: (
        "(Business Account, Consumer Account) pair rate limit hit",
        "Message failed to send because there were too many messages sent from this phone "
        "number to the same phone number in a short period of time.",
    ),
}
_DEFAULT_CODE_FOR_STATUS = {
    400: 100,
    401: 190,
    403: 10,
    404: 100,
    429: 130429,
    500: 131000,
    502: 2,
    503: 2,
}
_HTML_ERROR = (
    "<!DOCTYPE html><html><head><title>Facebook | Error</title></head>"
    "<body><h1>Sorry, something went wrong.</h1><p>We're working on it.</p></body></html>"
)


def _now_trace() -> str:
    return "A" + secrets.token_urlsafe(16)[:22]


def _wa_id(to: str) -> str:
    """Meta's wa_id for a ``to``: phone numbers lose their punctuation, other ids stay as sent."""
    if _PHONE.match(to):
        return "".join(ch for ch in to if ch.isdigit())
    return to


def _new_wamid(wa_id: str, *, inbound: bool = False) -> str:
    """An id shaped like Meta's: base64 of the user's number and a random hex tail (inbound and
    outbound ids differ in their tail), so it carries ``+``, ``/`` and ``=`` like real ones."""
    user = wa_id.encode()[:64]
    tail = (
        b"\x12\x18\x14" + secrets.token_hex(10).upper().encode()
        if inbound
        else (b"\x11\x18\x12" + secrets.token_hex(9).upper().encode())
    )
    raw = b"\x1c\x18" + bytes([len(user)]) + user + b"\x15\x02\x00" + tail + b"\x00"
    return "wamid." + base64.b64encode(raw).decode("ascii")


def _dump(payload: Any) -> bytes:
    """Serialize like Meta: compact, non-ASCII as \\uXXXX and slashes escaped, so receivers that
    re-encode the JSON instead of checking the raw bytes fail the signature as they would live."""
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True)
    return text.replace("/", "\\/").encode("ascii")


@dataclass
class SimNumber:
    """A business phone number registered in the simulator."""

    phone_number_id: str
    access_token: str
    app_secret: str
    display_phone_number: str
    waba_id: str
    verified_name: str = "Panelpilot Test"
    throughput: int = DEFAULT_THROUGHPUT
    token_expired: bool = False
    pair_limit: tuple[int, float] | None = None  # (messages, seconds) to one user


@dataclass
class SentMessage:
    """One message the simulator accepted from panelpilot."""

    id: str
    phone_number_id: str
    to: str
    wa_id: str
    type: str
    text: str | None
    buttons: list[dict[str, str]]
    context_id: str | None
    body: dict[str, Any]
    timestamp: int
    statuses: list[str] = field(default_factory=list)


@dataclass
class Delivery:
    """One webhook the simulator POSTed (with all its retries)."""

    kind: str
    url: str | None
    body: bytes
    signature: str | None
    status_code: int | None
    attempts: int
    ok: bool

    def payload(self) -> Any:
        return json.loads(self.body)


@dataclass
class _Webhook:
    url: str
    verify_token: str


@dataclass
class _Fault:
    status: int
    body: bytes
    content_type: str


@dataclass
class _Job:
    kind: str
    app_secret: str
    payload: dict[str, Any]
    sent: list[tuple[SentMessage, str]] = field(default_factory=list)


class GraphError(Exception):
    """An error answer in the Graph shape."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str | None = None,
        *,
        details: str | None = None,
        subcode: int | None = None,
        kind: str = "OAuthException",
    ) -> None:
        title, default_details = _ERRORS.get(code, ("Error", ""))
        super().__init__(message or f"(#{code}) {title}")
        self.status = status
        self.code = code
        self.message = message or f"(#{code}) {title}"
        self.title = title
        self.details = details if details is not None else default_details
        self.subcode = subcode
        self.kind = kind

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.kind, "code": self.code}
        if self.details:
            error["error_data"] = {"messaging_product": "whatsapp", "details": self.details}
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        error["fbtrace_id"] = _now_trace()
        return {"error": error}

    def webhook_error(self) -> dict[str, Any]:
        """The same error as it appears in a ``failed`` status's ``errors`` array."""
        return {
            "code": self.code,
            "title": self.title,
            "message": self.title,
            "error_data": {"details": self.details},
            "href": ERROR_HREF,
        }

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status)


class MetaSim:
    """State and behaviour of the simulated Graph API; ``app`` is the Starlette app to serve.

    ``window_errors`` says how the 24-hour rule shows: ``"sync"`` answers 131047 at once,
    ``"async"`` accepts the message and reports a ``failed`` status with 131047 (both happen live).
    """

    def __init__(
        self,
        *,
        throughput: int = DEFAULT_THROUGHPUT,
        window_seconds: float = WINDOW_SECONDS,
        window_errors: str = "sync",
        status_mode: str = "each",
        status_sequence: Iterable[str] = STATUS_SEQUENCE,
        retry_delays: Iterable[float] = (0.05, 0.1, 0.2, 0.4, 0.8),
        webhook_timeout: float = 5.0,
        throttle_status: int = 429,
    ) -> None:
        self.throughput = throughput
        self.window_seconds = window_seconds
        self.window_errors = window_errors
        self.status_mode = status_mode
        self.status_sequence = tuple(status_sequence)
        self.retry_delays = tuple(retry_delays)
        self.webhook_timeout = webhook_timeout
        # Meta's error reference has listed the throttling codes with HTTP 429 and with 400; the
        # code in the body is what clients must act on, so either status is fair to test with.
        self.throttle_status = throttle_status

        self.numbers: dict[str, SimNumber] = {}
        self.deliveries: list[Delivery] = []
        self.verifications: list[dict[str, Any]] = []
        self._webhooks: dict[str, _Webhook] = {}
        self._offset = 0.0
        self._sent: list[SentMessage] = []
        self._inbound: dict[str, list[str]] = {}
        self._reads: dict[str, list[str]] = {}
        self._last_inbound: dict[tuple[str, str], float] = {}
        self._recent: dict[str, deque[float]] = {}
        self._recent_pair: dict[tuple[str, str], deque[float]] = {}
        self._faults: dict[str, deque[_Fault]] = {}
        self._delays: dict[str, float] = {}
        self._recipient_errors: dict[str, tuple[int, bool]] = {}
        self._stats: dict[str, Counter[str]] = {}

        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[_Job] | None = None
        self._worker: asyncio.Task[None] | None = None

        self.app = Starlette(
            routes=[
                Route("/_sim/{action}", self._control, methods=["GET", "POST"]),
                Route("/{version}/{phone_number_id}/messages", self._messages, methods=["POST"]),
                Route("/{version}/{phone_number_id}", self._number_info, methods=["GET"]),
            ],
            lifespan=self.lifespan,
        )

    # ----------------------------------------------------------------- setup and clock

    def add_number(
        self,
        phone_number_id: str,
        access_token: str,
        app_secret: str,
        *,
        display_phone_number: str = "15550001111",
        waba_id: str = "102290129340398",
        verified_name: str = "Panelpilot Test",
        throughput: int | None = None,
    ) -> SimNumber:
        number = SimNumber(
            phone_number_id=str(phone_number_id),
            access_token=access_token,
            app_secret=app_secret,
            display_phone_number=display_phone_number,
            waba_id=str(waba_id),
            verified_name=verified_name,
            throughput=throughput if throughput is not None else self.throughput,
        )
        self.numbers[number.phone_number_id] = number
        return number

    def set_webhook(self, url: str, verify_token: str, app_secret: str) -> None:
        """The callback URL of the Meta app whose secret is ``app_secret``."""
        self._webhooks[app_secret] = _Webhook(url=url, verify_token=verify_token)

    def set_throughput(self, phone_number_id: str, per_second: int) -> None:
        self._number(phone_number_id).throughput = per_second

    def set_pair_limit(
        self, phone_number_id: str, messages: int | None, seconds: float = 6.0
    ) -> None:
        """Limit sends to one user (error 131056); ``None`` turns the limit off (the default)."""
        number = self._number(phone_number_id)
        number.pair_limit = None if messages is None else (messages, seconds)

    def expire_token(self, phone_number_id: str) -> None:
        """From now on the number's token answers 190 (session expired)."""
        self._number(phone_number_id).token_expired = True

    def set_recipient_error(
        self, wa_id: str, code: int | None = 131026, *, sync: bool = False
    ) -> None:
        """Sends to ``wa_id`` fail with ``code``: at once (sync) or as a ``failed`` status."""
        if code is None:
            self._recipient_errors.pop(_wa_id(wa_id), None)
        else:
            self._recipient_errors[_wa_id(wa_id)] = (code, sync)

    def set_statuses(self, mode: str = "each", sequence: Iterable[str] = STATUS_SEQUENCE) -> None:
        """How statuses are reported: one body each, ``batched`` in one body, ``reversed``
        (out of order) or ``off``; ``sequence`` is which statuses a send goes through."""
        if mode not in STATUS_MODES:
            raise ValueError(f"mode must be one of {STATUS_MODES}")
        self.status_mode = mode
        self.status_sequence = tuple(sequence)

    def now(self) -> float:
        """The sim clock: wall time plus everything ``advance`` added."""
        return time.time() + self._offset

    def advance(self, seconds: float) -> None:
        self._offset += seconds

    # ----------------------------------------------------------------- fault injection

    def fail_next(
        self,
        phone_number_id: str,
        status: int,
        count: int = 1,
        *,
        code: int | None = None,
        message: str | None = None,
        details: str | None = None,
    ) -> None:
        """The next ``count`` requests for the number get a Graph error with this HTTP status."""
        error = GraphError(
            status,
            code if code is not None else _DEFAULT_CODE_FOR_STATUS.get(status, 1),
            message,
            details=details,
        )
        body = json.dumps(error.body()).encode()
        self._queue_fault(phone_number_id, _Fault(status, body, "application/json"), count)

    def malformed_next(
        self,
        phone_number_id: str,
        count: int = 1,
        *,
        status: int = 200,
        body: str = _HTML_ERROR,
        content_type: str = "text/html; charset=utf-8",
    ) -> None:
        """The next ``count`` requests get something that is not Graph JSON (an HTML page)."""
        self._queue_fault(phone_number_id, _Fault(status, body.encode(), content_type), count)

    def _queue_fault(self, phone_number_id: str, fault: _Fault, count: int) -> None:
        self._faults.setdefault(str(phone_number_id), deque()).extend([fault] * count)

    def delay(self, phone_number_id: str, seconds: float) -> None:
        """Answer every request for the number ``seconds`` late (0 to stop)."""
        if seconds > 0:
            self._delays[str(phone_number_id)] = seconds
        else:
            self._delays.pop(str(phone_number_id), None)

    # ----------------------------------------------------------------- recording

    def sent(self, phone_number_id: str, to: str | None = None) -> list[SentMessage]:
        """Messages accepted for the number, oldest first, optionally to one recipient."""
        found = [m for m in self._sent if m.phone_number_id == str(phone_number_id)]
        if to is not None:
            found = [m for m in found if to in (m.to, m.wa_id) or _wa_id(to) == m.wa_id]
        return found

    def reads(self, phone_number_id: str) -> list[str]:
        """Ids of inbound messages panelpilot marked as read."""
        return list(self._reads.get(str(phone_number_id), []))

    def stats(self, phone_number_id: str | None = None) -> dict[str, int]:
        """Counters: requests, sent, errors, throttled, outside_window, reads, inbound, ..."""
        if phone_number_id is not None:
            return dict(self._stats.get(str(phone_number_id), Counter()))
        total: Counter[str] = Counter()
        for counter in self._stats.values():
            total.update(counter)
        return dict(total)

    def throttled(self, phone_number_id: str | None = None) -> int:
        """How many sends were answered with a throughput or pair-rate error."""
        return self.stats(phone_number_id).get("throttled", 0)

    def reset(self) -> None:
        """Forget traffic, faults and clock; keep numbers and webhooks."""
        self.deliveries.clear()
        self.verifications.clear()
        self._offset = 0.0
        for store in (
            self._sent,
            self._inbound,
            self._reads,
            self._last_inbound,
            self._recent,
            self._recent_pair,
            self._faults,
            self._delays,
            self._recipient_errors,
            self._stats,
        ):
            store.clear()

    def _count(self, phone_number_id: str, name: str) -> None:
        self._stats.setdefault(phone_number_id, Counter())[name] += 1

    def _number(self, phone_number_id: str) -> SimNumber:
        try:
            return self.numbers[str(phone_number_id)]
        except KeyError:
            raise KeyError(f"unknown phone_number_id {phone_number_id!r}") from None

    # ----------------------------------------------------------------- Graph API

    async def _messages(self, request: Request) -> Response:
        phone_number_id = request.path_params["phone_number_id"]
        self._count(phone_number_id, "requests")
        delay = self._delays.get(phone_number_id)
        if delay:
            await asyncio.sleep(delay)
        faults = self._faults.get(phone_number_id)
        if faults:
            fault = faults.popleft()
            self._count(phone_number_id, "faults")
            return Response(fault.body, status_code=fault.status, media_type=fault.content_type)
        try:
            number = self._authorize(request)
            body = await self._json_body(request)
            if body.get("status") == "read":
                return self._mark_read(number, body)
            return self._send(number, body)
        except GraphError as error:
            self._count(phone_number_id, "errors")
            return error.response()

    async def _number_info(self, request: Request) -> Response:
        try:
            number = self._authorize(request)
        except GraphError as error:
            return error.response()
        return JSONResponse(
            {
                "verified_name": number.verified_name,
                "code_verification_status": "VERIFIED",
                "display_phone_number": number.display_phone_number,
                "quality_rating": "GREEN",
                "platform_type": "CLOUD_API",
                "throughput": {"level": "STANDARD"},
                "id": number.phone_number_id,
            }
        )

    def _authorize(self, request: Request) -> SimNumber:
        version = request.path_params["version"]
        phone_number_id = request.path_params["phone_number_id"]
        if not _VERSION.match(version):
            raise GraphError(
                400, 2500, f"Unknown path components: /{version}/{phone_number_id}", details=""
            )
        auth = request.headers.get("authorization", "")
        token = auth[7:].strip() if auth[:7].lower() == "bearer " else None
        # Graph also takes the token as a query parameter.
        token = token or request.query_params.get("access_token")
        if not token:
            raise GraphError(
                400, 104, "An access token is required to request this resource.", details=""
            )
        given = token.encode("utf-8", "replace")
        owners = [
            n for n in self.numbers.values() if hmac.compare_digest(n.access_token.encode(), given)
        ]
        if not owners:
            raise GraphError(
                401, 190, "Invalid OAuth access token - Cannot parse access token", details=""
            )
        number = self.numbers.get(phone_number_id)
        if number is None or number not in owners:
            raise GraphError(
                400,
                100,
                f"Unsupported {request.method.lower()} request. Object with ID "
                f"'{phone_number_id}' does not exist, "
                "cannot be loaded due to missing permissions, or does not support this operation. "
                "Please read the Graph API documentation at "
                "https://developers.facebook.com/docs/graph-api",
                subcode=33,
                kind="GraphMethodException",
                details="",
            )
        if number.token_expired:
            raise GraphError(
                401,
                190,
                "Error validating access token: Session has expired.",
                subcode=463,
                details="",
            )
        return number

    @staticmethod
    async def _json_body(request: Request) -> dict[str, Any]:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            body = None
        if not isinstance(body, dict) or body.get("messaging_product") != "whatsapp":
            raise GraphError(
                400, 100, "(#100) The parameter messaging_product is required.", details=""
            )
        return body

    def _mark_read(self, number: SimNumber, body: dict[str, Any]) -> Response:
        message_id = body.get("message_id")
        pnid = number.phone_number_id
        if not isinstance(message_id, str) or message_id not in self._inbound.get(pnid, []):
            raise GraphError(
                400,
                100,
                "(#100) Invalid parameter",
                details="Invalid message_id: no such inbound message.",
            )
        self._reads.setdefault(pnid, []).append(message_id)
        self._count(pnid, "reads")
        return JSONResponse({"success": True})

    def _throttle(self, number: SimNumber, wa_id: str) -> None:
        pnid = number.phone_number_id
        clock = time.monotonic()
        recent = self._recent.setdefault(pnid, deque())
        while recent and recent[0] <= clock - 1.0:
            recent.popleft()
        if len(recent) >= number.throughput:
            self._count(pnid, "throttled")
            raise GraphError(self.throttle_status, 130429)
        if number.pair_limit is not None:
            limit, seconds = number.pair_limit
            pair = self._recent_pair.setdefault((pnid, wa_id), deque())
            while pair and pair[0] <= clock - seconds:
                pair.popleft()
            if len(pair) >= limit:
                self._count(pnid, "throttled")
                raise GraphError(self.throttle_status, 131056)
            pair.append(clock)
        recent.append(clock)

    def _send(self, number: SimNumber, body: dict[str, Any]) -> Response:
        pnid = number.phone_number_id
        to = body.get("to")
        if not isinstance(to, str) or not to.strip():
            raise GraphError(400, 100, "(#100) The parameter to is required.", details="")
        wa_id = _wa_id(to.strip())
        self._throttle(number, wa_id)
        mtype = body.get("type", "text")
        text, buttons = _validate(mtype, body)

        error: GraphError | None = None
        recipient_error = self._recipient_errors.get(wa_id)
        if recipient_error is not None:
            code, sync = recipient_error
            if sync:
                raise GraphError(400, code)
            error = GraphError(400, code)
        elif mtype != "template" and not self._window_open(pnid, wa_id):
            # Only templates may open a conversation; anything else needs a recent user message.
            self._count(pnid, "outside_window")
            if self.window_errors == "sync":
                raise GraphError(400, 131047)
            error = GraphError(400, 131047)

        context = body.get("context")
        context_id = context.get("message_id") if isinstance(context, dict) else None
        message = SentMessage(
            id=_new_wamid(wa_id),
            phone_number_id=pnid,
            to=to,
            wa_id=wa_id,
            type=str(mtype),
            text=text,
            buttons=buttons,
            context_id=context_id if isinstance(context_id, str) else None,
            body=body,
            timestamp=int(self.now()),
        )
        self._sent.append(message)
        self._count(pnid, "sent")
        self._report(number, message, error)
        answer: dict[str, Any] = {"id": message.id}
        if mtype == "template":
            answer["message_status"] = "accepted"
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": to, "wa_id": wa_id}],
                "messages": [answer],
            }
        )

    def _window_open(self, pnid: str, wa_id: str) -> bool:
        last = self._last_inbound.get((pnid, wa_id))
        return last is not None and self.now() - last < self.window_seconds

    # ----------------------------------------------------------------- statuses

    def _status_item(
        self, message: SentMessage, status: str, error: GraphError | None = None
    ) -> dict[str, Any]:
        item: dict[str, Any] = {
            "id": message.id,
            "status": status,
            "timestamp": str(int(self.now())),
            "recipient_id": message.wa_id,
        }
        if status in ("sent", "delivered"):
            conversation: dict[str, Any] = {
                "id": hashlib.md5(
                    f"{message.phone_number_id}:{message.wa_id}".encode()
                ).hexdigest(),
                "origin": {"type": "service"},
            }
            if status == "sent":
                conversation["expiration_timestamp"] = str(int(self.now()) + WINDOW_SECONDS)
            item["conversation"] = conversation
            item["pricing"] = {
                "billable": False,
                "pricing_model": "PMP",
                "category": "service",
                "type": "free_customer_service",
            }
        if error is not None:
            item["errors"] = [error.webhook_error()]
        return item

    def _report(self, number: SimNumber, message: SentMessage, error: GraphError | None) -> None:
        if self.status_mode == "off":
            return
        plan: list[tuple[str, GraphError | None]]
        if error is not None:
            plan = [("failed", error)]
        else:
            plan = [(status, None) for status in self.status_sequence]
        if self.status_mode == "reversed":
            plan.reverse()
        groups = [plan] if self.status_mode == "batched" else [[step] for step in plan]
        for group in groups:
            value = {"statuses": [self._status_item(message, s, e) for s, e in group]}
            job = _Job(
                kind="statuses",
                app_secret=number.app_secret,
                payload=self._envelope(number, "messages", value),
                sent=[(message, s) for s, _ in group],
            )
            self._enqueue(job)

    async def push_statuses(
        self, phone_number_id: str, items: Iterable[tuple[str, str]]
    ) -> Delivery:
        """POST one body with the given ``(message id, status)`` pairs now, in that order."""
        number = self._number(phone_number_id)
        by_id = {m.id: m for m in self.sent(phone_number_id)}
        statuses = []
        for message_id, status in items:
            message = by_id[message_id]
            message.statuses.append(status)
            statuses.append(self._status_item(message, status))
        payload = self._envelope(number, "messages", {"statuses": statuses})
        async with self._client() as client:
            return await self._post_webhook(client, "statuses", number.app_secret, payload)

    def _enqueue(self, job: _Job) -> None:
        loop = asyncio.get_running_loop()
        if (
            self._queue is None
            or self._loop is not loop
            or self._worker is None
            or (self._worker.done())
        ):
            self._loop = loop
            self._queue = asyncio.Queue()
            self._worker = loop.create_task(self._run_worker(self._queue))
        self._queue.put_nowait(job)

    async def _run_worker(self, queue: asyncio.Queue[_Job]) -> None:
        # One worker, one job at a time: statuses arrive in the order the sim produced them
        # (unless the mode shuffles them on purpose), and a failing receiver delays the rest.
        async with self._client() as client:
            while True:
                job = await queue.get()
                try:
                    delivery = await self._post_webhook(
                        client, job.kind, job.app_secret, job.payload
                    )
                    if delivery.ok:
                        for message, status in job.sent:
                            message.statuses.append(status)
                except Exception:
                    log.exception("meta sim: webhook delivery crashed")
                finally:
                    queue.task_done()

    async def drain(self) -> None:
        """Wait until every queued status webhook was delivered (or given up on). Call it from
        the loop that serves the sim; wrap it in ``asyncio.timeout`` to bound the wait."""
        queue = self._queue
        if queue is None or self._loop is not asyncio.get_running_loop():
            return
        await queue.join()

    async def aclose(self) -> None:
        """Stop the status worker (the app's lifespan does this when the server stops)."""
        worker, self._worker, self._queue = self._worker, None, None
        if worker is not None:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker

    @contextlib.asynccontextmanager
    async def lifespan(self, app: Starlette) -> AsyncIterator[None]:
        """The app's lifespan; pass it on when mounting the sim inside another app."""
        yield
        await self.aclose()

    # ----------------------------------------------------------------- webhooks out

    def _envelope(
        self, number: SimNumber, field_name: str, value: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": number.waba_id,
                    "changes": [
                        {
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": number.display_phone_number,
                                    "phone_number_id": number.phone_number_id,
                                },
                                **value,
                            },
                            "field": field_name,
                        }
                    ],
                }
            ],
        }

    @staticmethod
    def _client() -> httpx.AsyncClient:
        # trust_env=False: never route loopback traffic through a proxy from the environment.
        return httpx.AsyncClient(trust_env=False)

    async def _post_webhook(
        self, client: httpx.AsyncClient, kind: str, app_secret: str, payload: dict[str, Any]
    ) -> Delivery:
        raw = _dump(payload)
        hook = self._webhooks.get(app_secret)
        if hook is None:
            delivery = Delivery(kind, None, raw, None, None, 0, False)
            self.deliveries.append(delivery)
            return delivery
        signature = sign(app_secret, raw)
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "facebookexternalua",
            "X-Hub-Signature-256": signature,
            "X-Hub-Signature": "sha1="
            + hmac.new(app_secret.encode(), raw, hashlib.sha1).hexdigest(),
        }
        status: int | None = None
        attempts = 0
        for pause in (0.0, *self.retry_delays):
            if pause:
                await asyncio.sleep(pause)
            attempts += 1
            try:
                response = await client.post(
                    hook.url, content=raw, headers=headers, timeout=self.webhook_timeout
                )
                status = response.status_code
            except httpx.HTTPError:
                status = None
            if status is not None and 200 <= status < 300:
                break
        ok = status is not None and 200 <= status < 300
        delivery = Delivery(kind, hook.url, raw, signature, status, attempts, ok)
        self.deliveries.append(delivery)
        return delivery

    async def verify_webhook(
        self, app_secret: str | None = None, *, verify_token: str | None = None
    ) -> bool:
        """Run Meta's GET handshake against the app's callback URL; True if the challenge came
        back as the whole body with 200. ``verify_token`` overrides the token sent (to test a
        wrong one)."""
        hook = self._hook(app_secret)
        challenge = str(secrets.randbelow(9 * 10**9) + 10**9)
        params = {
            "hub.mode": "subscribe",
            "hub.challenge": challenge,
            "hub.verify_token": verify_token if verify_token is not None else hook.verify_token,
        }
        status: int | None = None
        text = ""
        async with self._client() as client:
            try:
                response = await client.get(hook.url, params=params, timeout=self.webhook_timeout)
                status, text = response.status_code, response.text
            except httpx.HTTPError:
                status = None
        ok = status == 200 and text.strip() == challenge
        self.verifications.append({"url": hook.url, "status": status, "ok": ok})
        return ok

    def _hook(self, app_secret: str | None) -> _Webhook:
        if app_secret is None:
            if len(self._webhooks) != 1:
                raise LookupError("name the app (app_secret): there is not exactly one webhook")
            return next(iter(self._webhooks.values()))
        try:
            return self._webhooks[app_secret]
        except KeyError:
            raise LookupError("no webhook set for this app") from None

    # ----------------------------------------------------------------- users

    async def user_sends(
        self,
        phone_number_id: str,
        wa_id: str,
        content: dict[str, Any],
        *,
        name: str = "Test User",
        context_id: str | None = None,
        user_id: str | None = None,
        username: str | None = None,
        deliver: bool = True,
    ) -> str:
        """A user sends ``content`` (``{"type": ..., <type>: {...}}``) to the business number;
        the signed webhook is POSTed (retried on non-2xx) before this returns the ``wamid``.
        ``deliver=False`` only records the message and opens the window (no webhook needed)."""
        number = self._number(phone_number_id)
        if deliver:
            self._hook(number.app_secret)
        wa_id = _wa_id(wa_id)
        message_id = _new_wamid(wa_id, inbound=True)
        message: dict[str, Any] = {
            "from": wa_id,
            "id": message_id,
            "timestamp": str(int(self.now())),
        }
        if context_id:
            message["context"] = {"from": number.display_phone_number, "id": context_id}
        message.update(content)
        profile: dict[str, Any] = {"name": name}
        if username:
            profile["username"] = username
        contact: dict[str, Any] = {"profile": profile, "wa_id": wa_id}
        if user_id:
            contact["user_id"] = user_id
        # The user's message reached WhatsApp whatever happens to our webhook: the window opens.
        self._last_inbound[(number.phone_number_id, wa_id)] = self.now()
        self._inbound.setdefault(number.phone_number_id, []).append(message_id)
        self._count(number.phone_number_id, "inbound")
        payload = self._envelope(number, "messages", {"contacts": [contact], "messages": [message]})
        async with self._client() as client:
            await self._post_webhook(client, "message", number.app_secret, payload)
        return message_id

    async def user_says(
        self,
        phone_number_id: str,
        wa_id: str,
        text: str,
        *,
        name: str = "Test User",
        context_id: str | None = None,
        user_id: str | None = None,
        username: str | None = None,
        deliver: bool = True,
    ) -> str:
        """A user writes ``text``; returns the inbound message's ``wamid``."""
        return await self.user_sends(
            phone_number_id,
            wa_id,
            {"type": "text", "text": {"body": text}},
            name=name,
            context_id=context_id,
            user_id=user_id,
            username=username,
            deliver=deliver,
        )

    async def user_presses(
        self,
        phone_number_id: str,
        wa_id: str,
        reply_id: str,
        *,
        title: str | None = None,
        context_id: str | None = None,
        kind: str | None = None,
        name: str = "Test User",
    ) -> str:
        """A user taps a reply button or list row we sent (found by its id, newest first), or a
        template quick-reply button (``kind="button"``)."""
        source = None
        wanted = _wa_id(wa_id)
        for message in reversed(self.sent(phone_number_id)):
            if message.wa_id != wanted or (context_id and message.id != context_id):
                continue
            button = next((b for b in message.buttons if b["id"] == reply_id), None)
            if button is not None:
                source = (message, button)
                break
        description = None
        if source is not None:
            message, button = source
            context_id = message.id
            title = title or button["title"]
            description = button.get("description")
            if kind is None:
                kind = {"template": "button", "list": "list_reply"}.get(
                    button.get("kind", ""), "button_reply"
                )
        if title is None:
            raise LookupError(f"no sent button {reply_id!r} to {wa_id!r}; pass title=")
        kind = kind or "button_reply"
        content: dict[str, Any]
        if kind == "button":
            content = {"type": "button", "button": {"payload": reply_id, "text": title}}
        else:
            reply: dict[str, Any] = {"id": reply_id, "title": title}
            if kind == "list_reply" and description:
                reply["description"] = description
            content = {"type": "interactive", "interactive": {"type": kind, kind: reply}}
        return await self.user_sends(
            phone_number_id, wa_id, content, name=name, context_id=context_id
        )

    async def business_app_echo(self, phone_number_id: str, to: str, text: str) -> str:
        """The owner writes from the WhatsApp Business app (coexistence): an echo webhook."""
        number = self._number(phone_number_id)
        message_id = _new_wamid(_wa_id(to))
        echo = {
            "from": number.display_phone_number,
            "to": to,
            "id": message_id,
            "timestamp": str(int(self.now())),
            "type": "text",
            "text": {"body": text},
        }
        payload = self._envelope(number, "smb_message_echoes", {"message_echoes": [echo]})
        async with self._client() as client:
            await self._post_webhook(client, "echo", number.app_secret, payload)
        return message_id

    # ----------------------------------------------------------------- control API

    async def _control(self, request: Request) -> Response:
        action = request.path_params["action"]
        handler = self._control_actions().get(action)
        if handler is None:
            return JSONResponse({"error": f"unknown action {action!r}"}, status_code=404)
        data: dict[str, Any] = dict(request.query_params)
        if request.method == "POST":
            raw = await request.body()
            if raw:
                try:
                    parsed = json.loads(raw)
                except ValueError:
                    return JSONResponse({"error": "body is not JSON"}, status_code=400)
                if not isinstance(parsed, dict):
                    return JSONResponse({"error": "body must be an object"}, status_code=400)
                data.update(parsed)
        try:
            result = await handler(data)
        except (KeyError, LookupError, TypeError, ValueError) as exc:
            return JSONResponse({"error": f"{type(exc).__name__}: {exc}"}, status_code=400)
        return JSONResponse(result)

    def _control_actions(self) -> dict[str, Callable[[dict[str, Any]], Awaitable[Any]]]:
        async def numbers(d: dict[str, Any]) -> Any:
            number = self.add_number(**d)
            return {"ok": True, "phone_number_id": number.phone_number_id}

        async def webhook(d: dict[str, Any]) -> Any:
            self.set_webhook(d["url"], d["verify_token"], d["app_secret"])
            return {"ok": True}

        async def verify(d: dict[str, Any]) -> Any:
            return {
                "ok": await self.verify_webhook(
                    d.get("app_secret"), verify_token=d.get("verify_token")
                )
            }

        async def user_says(d: dict[str, Any]) -> Any:
            message_id = await self.user_says(
                d["phone_number_id"],
                d["wa_id"],
                d["text"],
                name=d.get("name", "Test User"),
                context_id=d.get("context_id"),
                user_id=d.get("user_id"),
                username=d.get("username"),
                deliver=bool(d.get("deliver", True)),
            )
            return {"id": message_id, "delivery": self._last_delivery()}

        async def user_sends(d: dict[str, Any]) -> Any:
            message_id = await self.user_sends(
                d["phone_number_id"],
                d["wa_id"],
                d["content"],
                name=d.get("name", "Test User"),
                context_id=d.get("context_id"),
            )
            return {"id": message_id, "delivery": self._last_delivery()}

        async def user_presses(d: dict[str, Any]) -> Any:
            message_id = await self.user_presses(
                d["phone_number_id"],
                d["wa_id"],
                d["reply_id"],
                title=d.get("title"),
                context_id=d.get("context_id"),
                kind=d.get("kind"),
                name=d.get("name", "Test User"),
            )
            return {"id": message_id, "delivery": self._last_delivery()}

        async def echo(d: dict[str, Any]) -> Any:
            message_id = await self.business_app_echo(d["phone_number_id"], d["to"], d["text"])
            return {"id": message_id, "delivery": self._last_delivery()}

        async def advance(d: dict[str, Any]) -> Any:
            self.advance(float(d["seconds"]))
            return {"now": self.now()}

        async def fail_next(d: dict[str, Any]) -> Any:
            code = d.get("code")
            self.fail_next(
                d["phone_number_id"],
                int(d["status"]),
                int(d.get("count", 1)),
                code=int(code) if code is not None else None,
                message=d.get("message"),
                details=d.get("details"),
            )
            return {"ok": True}

        async def malformed_next(d: dict[str, Any]) -> Any:
            self.malformed_next(
                d["phone_number_id"],
                int(d.get("count", 1)),
                status=int(d.get("status", 200)),
                body=d.get("body", _HTML_ERROR),
            )
            return {"ok": True}

        async def delay(d: dict[str, Any]) -> Any:
            self.delay(d["phone_number_id"], float(d["seconds"]))
            return {"ok": True}

        async def throughput(d: dict[str, Any]) -> Any:
            self.set_throughput(d["phone_number_id"], int(d["per_second"]))
            return {"ok": True}

        async def pair_limit(d: dict[str, Any]) -> Any:
            messages = d.get("messages")
            self.set_pair_limit(
                d["phone_number_id"],
                int(messages) if messages is not None else None,
                float(d.get("seconds", 6.0)),
            )
            return {"ok": True}

        async def statuses(d: dict[str, Any]) -> Any:
            self.set_statuses(d.get("mode", "each"), d.get("sequence", STATUS_SEQUENCE))
            return {"ok": True}

        async def recipient_error(d: dict[str, Any]) -> Any:
            code = d.get("code", 131026)
            self.set_recipient_error(
                d["wa_id"], int(code) if code is not None else None, sync=bool(d.get("sync", False))
            )
            return {"ok": True}

        async def expire_token(d: dict[str, Any]) -> Any:
            self.expire_token(d["phone_number_id"])
            return {"ok": True}

        async def sent(d: dict[str, Any]) -> Any:
            return {"messages": [asdict(m) for m in self.sent(d["phone_number_id"], d.get("to"))]}

        async def reads(d: dict[str, Any]) -> Any:
            return {"ids": self.reads(d["phone_number_id"])}

        async def stats(d: dict[str, Any]) -> Any:
            return {"stats": self.stats(d.get("phone_number_id"))}

        async def deliveries(d: dict[str, Any]) -> Any:
            return {"deliveries": [self._delivery_json(x) for x in self.deliveries]}

        async def drain(d: dict[str, Any]) -> Any:
            await asyncio.wait_for(self.drain(), float(d.get("timeout", 10.0)))
            return {"ok": True}

        async def reset(d: dict[str, Any]) -> Any:
            self.reset()
            return {"ok": True}

        return {
            "numbers": numbers,
            "webhook": webhook,
            "verify": verify,
            "user_says": user_says,
            "user_sends": user_sends,
            "user_presses": user_presses,
            "echo": echo,
            "advance": advance,
            "fail_next": fail_next,
            "malformed_next": malformed_next,
            "delay": delay,
            "throughput": throughput,
            "pair_limit": pair_limit,
            "statuses": statuses,
            "recipient_error": recipient_error,
            "expire_token": expire_token,
            "sent": sent,
            "reads": reads,
            "stats": stats,
            "deliveries": deliveries,
            "drain": drain,
            "reset": reset,
        }

    def _last_delivery(self) -> dict[str, Any] | None:
        return self._delivery_json(self.deliveries[-1]) if self.deliveries else None

    @staticmethod
    def _delivery_json(delivery: Delivery) -> dict[str, Any]:
        data = asdict(delivery)
        data["body"] = delivery.body.decode("ascii")
        return data


def _validate(mtype: Any, body: dict[str, Any]) -> tuple[str | None, list[dict[str, str]]]:
    """Check a send request like Meta does; return its text and its reply buttons."""
    if mtype == "text":
        text = body.get("text")
        content = text.get("body") if isinstance(text, dict) else None
        if not isinstance(content, str) or not content.strip():
            raise GraphError(400, 100, "(#100) The parameter text['body'] is required.", details="")
        if len(content) > TEXT_LIMIT:
            raise GraphError(
                400,
                100,
                f"(#100) Param text['body'] must be at most {TEXT_LIMIT} characters long.",
                details="",
            )
        return content, []
    if mtype == "interactive":
        return _validate_interactive(body.get("interactive"))
    if mtype == "template":
        template = body.get("template")
        if not isinstance(template, dict) or not template.get("name"):
            raise GraphError(400, 131008, details="The parameter template['name'] is required.")
        buttons = []
        for component in template.get("components") or []:
            if isinstance(component, dict) and component.get("sub_type") == "quick_reply":
                for parameter in component.get("parameters") or []:
                    if isinstance(parameter, dict) and parameter.get("payload"):
                        payload = str(parameter["payload"])
                        buttons.append({"id": payload, "title": payload, "kind": "template"})
        return None, buttons
    if mtype in (
        "image",
        "video",
        "document",
        "audio",
        "sticker",
        "location",
        "contacts",
        "reaction",
    ):
        media = body.get(mtype)
        caption = media.get("caption") if isinstance(media, dict) else None
        return caption if isinstance(caption, str) else None, []
    raise GraphError(
        400,
        100,
        f"(#100) Param type must be one of {{AUDIO, CONTACTS, DOCUMENT, "
        f"IMAGE, INTERACTIVE, LOCATION, REACTION, STICKER, TEMPLATE, TEXT, VIDEO}} "
        f'- got "{mtype}".',
        details="",
    )


def _invalid(details: str) -> GraphError:
    return GraphError(400, 131009, details=details)


def _validate_interactive(interactive: Any) -> tuple[str | None, list[dict[str, str]]]:
    if not isinstance(interactive, dict):
        raise GraphError(400, 131008, details="The parameter interactive is required.")
    itype = interactive.get("type")
    body = interactive.get("body")
    text = body.get("text") if isinstance(body, dict) else None
    action = interactive.get("action")
    if not isinstance(action, dict):
        raise GraphError(400, 131008, details="The parameter interactive['action'] is required.")
    if itype == "button":
        if not isinstance(text, str) or not text or len(text) > 1024:
            raise _invalid("Body text length invalid. Min length: 1, Max length: 1024")
        raw = action.get("buttons")
        if not isinstance(raw, list) or not 1 <= len(raw) <= 3:
            raise _invalid("Buttons count invalid. Min: 1, Max: 3")
        buttons = []
        for item in raw:
            reply = item.get("reply") if isinstance(item, dict) else None
            if not isinstance(reply, dict) or item.get("type") != "reply":
                raise _invalid("Button type must be reply")
            button_id, title = reply.get("id"), reply.get("title")
            if not isinstance(button_id, str) or not 1 <= len(button_id) <= 256:
                raise _invalid("Button id length invalid. Min length: 1, Max length: 256")
            if not isinstance(title, str) or not 1 <= len(title) <= 20:
                raise _invalid("Button title length invalid. Min length: 1, Max length: 20")
            buttons.append({"id": button_id, "title": title, "kind": "button"})
        if len({b["id"] for b in buttons}) != len(buttons):
            raise _invalid("Button ids must be unique")
        if len({b["title"] for b in buttons}) != len(buttons):
            raise _invalid("Button titles must be unique")
        return text, buttons
    if itype == "list":
        if not isinstance(text, str) or not text or len(text) > TEXT_LIMIT:
            raise _invalid("Body text length invalid. Min length: 1, Max length: 4096")
        label = action.get("button")
        if not isinstance(label, str) or not 1 <= len(label) <= 20:
            raise _invalid("Button label length invalid. Min length: 1, Max length: 20")
        sections = action.get("sections")
        if not isinstance(sections, list) or not 1 <= len(sections) <= 10:
            raise _invalid("Sections count invalid. Min: 1, Max: 10")
        rows = []
        for section in sections:
            for row in (section.get("rows") if isinstance(section, dict) else None) or []:
                row_id = row.get("id") if isinstance(row, dict) else None
                title = row.get("title") if isinstance(row, dict) else None
                if not isinstance(row_id, str) or not 1 <= len(row_id) <= 200:
                    raise _invalid("Row id length invalid. Min length: 1, Max length: 200")
                if not isinstance(title, str) or not 1 <= len(title) <= 24:
                    raise _invalid("Row title length invalid. Min length: 1, Max length: 24")
                entry = {"id": row_id, "title": title, "kind": "list"}
                if isinstance(row.get("description"), str):
                    entry["description"] = row["description"]
                rows.append(entry)
        if not 1 <= len(rows) <= 10:
            raise _invalid("Rows count invalid. Min: 1, Max: 10")
        if len({r["id"] for r in rows}) != len(rows):
            raise _invalid("Row ids must be unique")
        return text, rows
    return text if isinstance(text, str) else None, []


# --------------------------------------------------------------------- standalone


def _parse_number(spec: str) -> dict[str, str]:
    parts = spec.split(":")
    if len(parts) < 3:
        raise argparse.ArgumentTypeError("expected PHONE_NUMBER_ID:TOKEN:APP_SECRET[:DISPLAY]")
    number = {"phone_number_id": parts[0], "access_token": parts[1], "app_secret": parts[2]}
    if len(parts) > 3:
        number["display_phone_number"] = parts[3]
    return number


async def _serve(sim: MetaSim, host: str, port: int) -> None:
    server = LoopbackServer(sim.app, host=host, port=port)
    await server.start()
    print(f"meta sim listening on {server.url}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m panelpilot.sim.meta",
        description="Simulated Meta Graph API (WhatsApp Cloud API) on a loopback port.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--number",
        action="append",
        default=[],
        type=_parse_number,
        metavar="PNID:TOKEN:SECRET[:DISPLAY]",
        help="register a number",
    )
    parser.add_argument(
        "--throughput", type=int, default=DEFAULT_THROUGHPUT, help="messages per second per number"
    )
    parser.add_argument("--window-errors", choices=("sync", "async"), default="sync")
    args = parser.parse_args(argv)
    sim = MetaSim(throughput=args.throughput, window_errors=args.window_errors)
    for number in args.number:
        sim.add_number(**number)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(sim, args.host, args.port))


if __name__ == "__main__":
    main()

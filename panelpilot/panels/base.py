"""What every panel adapter returns and raises, plus the small HTTP transport they share.

A panel adapter (``perfectpanel``, ``rental``) reads orders, users, services and tickets of one
SMM panel and answers in the plain dataclasses below, whatever spelling the panel's API uses.
Every failure is a ``PanelError`` that says whether retrying can help. No database here.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import httpx

from panelpilot.panels.ratelimit import TokenBucket

# --- statuses -------------------------------------------------------------------------------

_STATUS_SPELLINGS = {
    "cancelled": "canceled",
    "inprogress": "in progress",
    "in process": "in progress",
    "complete": "completed",
}


def normalize_status(status: object) -> str:
    """One spelling for an order status: 'In progress', 'in_progress', 'inprogress' → 'in progress'.

    Admin API v2 answers ``in_progress``/``canceled``, the user API ``In progress``/``Canceled``,
    rental panels ``Cancelled``; none of them publishes the full list, so anything unknown is
    passed through lower-cased rather than rejected. Empty → ``unknown``.
    """
    text = str(status or "").strip().lower().replace("_", " ").replace("-", " ")
    text = re.sub(r"\s+", " ", text)
    if not text:
        return "unknown"
    return _STATUS_SPELLINGS.get(text, text)


# --- errors ---------------------------------------------------------------------------------


class ErrorKind(StrEnum):
    PERMANENT = "permanent"  # retrying cannot help: bad key, missing permission, not found
    TRANSIENT = "transient"  # may work later: 5xx, timeout, Cloudflare page, 429, network


# Reasons, short stable words for logs, metrics and the console's "suggested fix".
AUTH = "auth"  # the key was rejected
PERMISSION = "permission"  # the key works but may not do this
NOT_FOUND = "not_found"
UNSUPPORTED = "unsupported"  # this panel's API has no such call
NOT_CONFIGURED = "not_configured"  # e.g. no user API key for the service catalogue
BAD_REQUEST = "bad_request"
RATE_LIMITED = "rate_limited"
SERVER_ERROR = "server_error"
TIMEOUT = "timeout"
NETWORK = "network"
HTML_PAGE = "html_page"  # an HTML page (mostly a Cloudflare check) instead of JSON
MALFORMED = "malformed"  # JSON we cannot read

_PERMANENT_REASONS = {AUTH, PERMISSION, NOT_FOUND, UNSUPPORTED, NOT_CONFIGURED, BAD_REQUEST}


class PanelError(Exception):
    """A panel call that did not give an answer we can use.

    ``kind`` is ``permanent`` or ``transient`` (derived from ``reason`` when not given);
    ``reason`` is one of the words above. The message is for admins and logs, never for
    customers, and never contains an API key.
    """

    def __init__(
        self,
        message: str,
        *,
        kind: ErrorKind | str | None = None,
        reason: str = SERVER_ERROR,
        status_code: int | None = None,
        retry_after: float | None = None,
        detail: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail  # the API's own error words, when it gave any
        self.reason = reason
        if kind is None:
            kind = ErrorKind.PERMANENT if reason in _PERMANENT_REASONS else ErrorKind.TRANSIENT
        self.kind = ErrorKind(kind)
        self.status_code = status_code
        self.retry_after = retry_after

    @property
    def permanent(self) -> bool:
        return self.kind is ErrorKind.PERMANENT

    @property
    def transient(self) -> bool:
        return self.kind is ErrorKind.TRANSIENT

    def __repr__(self) -> str:
        return f"PanelError({self.message!r}, kind={self.kind.value}, reason={self.reason})"


EXTERNAL_ID_HIDDEN_NOTE = (
    "The panel did not send external ids (the provider's order ids): the Admin API key lacks "
    "that permission. Edit the key in the panel's Admin API settings and allow it to see "
    "external ids and providers, otherwise no refill, speed or cancel can reach a provider."
)

# --- shapes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str | None = None

    def __str__(self) -> str:
        return f"{self.amount} {self.currency}" if self.currency else str(self.amount)


@dataclass
class PanelOrder:
    """One order as the panel's Admin API reports it; ids are opaque strings."""

    id: str
    external_id: str | None
    user: str | None
    service_id: str | None
    service_name: str | None
    status: str  # normalize_status(raw_status)
    raw_status: str | None
    remains: int | None = None
    start_count: int | None = None
    quantity: int | None = None
    link: str | None = None
    charge: Money | None = None
    provider: str | None = None  # provider name/domain as the panel shows it
    created: datetime | None = None
    last_update: datetime | None = None
    # True when the answer had no external_id field at all: the key lacks that permission,
    # which is not the same as an order without a provider (field present but empty).
    external_id_hidden: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def external_id_note(self) -> str | None:
        return EXTERNAL_ID_HIDDEN_NOTE if self.external_id_hidden else None


@dataclass
class PanelUser:
    username: str
    balance: Decimal | None
    currency: str | None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class PanelService:
    id: str
    name: str
    category: str | None = None
    type: str | None = None
    rate: Decimal | None = None
    min: int | None = None
    max: int | None = None
    refill: bool | None = None  # None: the API did not say
    cancel: bool | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class TicketMessage:
    text: str
    author: str | None = None
    staff: bool | None = None  # True for the panel's support staff, None when unknown
    created: datetime | None = None


@dataclass
class PanelTicket:
    id: str
    user: str | None
    subject: str
    status: str | None
    messages: list[TicketMessage] = field(default_factory=list)
    created: datetime | None = None
    last_update: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def last_message(self) -> str | None:
        return self.messages[-1].text if self.messages else None

    @property
    def first_message(self) -> str | None:
        return self.messages[0].text if self.messages else None


# Parts of a connection test, in the order an admin reads them.
PART_ORDERS = "orders"
PART_EXTERNAL_ID = "external_id"
PART_USERS = "users"
PART_TICKETS = "tickets"
PART_SERVICES = "services"


@dataclass
class ConnectionReport:
    """What works with these keys. ``None`` = not checked or not offered by this panel type.

    ``problems`` holds a human sentence per failing part, ``notes`` one per part left at None.
    Plain JSON values only: the report is stored as is.
    """

    ok: bool = False
    orders_readable: bool = False
    external_id_visible: bool | None = None
    users_readable: bool | None = None
    tickets_readable: bool | None = None
    services_readable: bool | None = None
    problems: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    def fail(self, part: str, message: str) -> None:
        setattr(self, _PART_FIELDS[part], False)
        self.problems[part] = message

    def succeed(self, part: str) -> None:
        setattr(self, _PART_FIELDS[part], True)

    def skip(self, part: str, note: str) -> None:
        setattr(self, _PART_FIELDS[part], None)
        self.notes[part] = note

    def finish(self) -> ConnectionReport:
        self.ok = self.orders_readable and not self.problems
        return self

    @property
    def message(self) -> str:
        if self.ok:
            return "The panel answered and every checked part works."
        return " ".join(self.problems.values()) or "The panel could not be checked."


_PART_FIELDS = {
    PART_ORDERS: "orders_readable",
    PART_EXTERNAL_ID: "external_id_visible",
    PART_USERS: "users_readable",
    PART_TICKETS: "tickets_readable",
    PART_SERVICES: "services_readable",
}


@runtime_checkable
class PanelAdapter(Protocol):
    """The one interface of every panel type."""

    panel_type: str

    async def get_orders(self, ids: list[str]) -> dict[str, PanelOrder]:
        """Orders by id; ids the panel does not know are simply absent."""
        ...

    async def get_user(self, username: str) -> PanelUser | None: ...

    async def list_services(self) -> list[PanelService]: ...

    async def list_tickets(
        self, status: str | None = None, since_id: str | None = None, limit: int = 50
    ) -> list[PanelTicket]:
        """Tickets, oldest first; with ``since_id`` only newer ones."""
        ...

    async def get_ticket(self, ticket_id: str) -> PanelTicket | None: ...

    async def reply_ticket(self, ticket_id: str, message: str) -> None: ...

    async def create_ticket(self, username: str, subject: str, message: str) -> str: ...

    async def test_connection(self) -> ConnectionReport: ...


# --- value parsing (panels send numbers as strings, objects or both) --------------------------


def text_or_none(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        for key in ("username", "login", "name", "domain", "value", "id"):
            if value.get(key) not in (None, ""):
                return text_or_none(value[key])
        return None
    text = str(value).strip()
    return text or None


def id_or_none(value: object) -> str | None:
    """An id as a string; ``12.0`` → ``12``; empty, ``0`` and booleans mean 'none'."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    text = text_or_none(value)
    return None if text in (None, "0") else text


def decimal_or_none(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, Mapping):
        for key in ("value", "amount", "balance"):
            if key in value:
                return decimal_or_none(value[key])
        return None
    text = str(value).strip().replace(" ", "").replace("\u00a0", "")
    text = re.sub(r"^[^\d\-+.,]+|[^\d.,]+$", "", text)  # "$1.20", "1.20 USD"
    if "," in text and "." not in text and not re.fullmatch(r"-?\d{1,3}(,\d{3})+", text):
        text = text.replace(",", ".")  # "1,20" (but "10,000" is ten thousand)
    text = text.replace(",", "")
    try:
        return Decimal(text) if text else None
    except InvalidOperation:
        return None


def int_or_none(value: object) -> int | None:
    number = decimal_or_none(value)
    if number is None or not number.is_finite():
        return None
    return int(number)


def bool_or_none(value: object) -> bool | None:
    if isinstance(value, bool):
        return value
    if value is None:
        return None
    if isinstance(value, int | float):
        return value != 0
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on", "enabled", "y"):
        return True
    if text in ("0", "false", "no", "off", "disabled", "n", ""):
        return False
    return None


def currency_of(value: object) -> str | None:
    if isinstance(value, Mapping):
        for key in ("currency_code", "currency", "code"):
            if value.get(key):
                return str(value[key]).strip().upper()
    return None


def money_or_none(value: object, currency: object = None) -> Money | None:
    """``{"value": "1.20", "currency_code": "USD"}``, ``"1.20"`` or ``1.2`` → Money."""
    amount = decimal_or_none(value)
    if amount is None:
        return None
    code = currency_of(value) or (str(currency).strip().upper() if currency else None)
    return Money(amount, code or None)


_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%d.%m.%Y %H:%M:%S", "%d/%m/%Y %H:%M:%S")


def time_or_none(value: object, tz: tzinfo = UTC) -> datetime | None:
    """An aware datetime from epoch seconds/ms, ISO text or 'YYYY-MM-DD HH:MM:SS'.

    Panels send local times without a zone and do not document which zone; ``tz`` is the
    panel's zone as configured (UTC unless told otherwise).
    """
    if value in (None, "", 0, "0"):
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=tz)
    if isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value) / 1000 if value > 10**11 else float(value)
        return datetime.fromtimestamp(seconds, UTC)
    text = str(value).strip()
    if re.fullmatch(r"\d{9,13}(\.\d+)?", text):
        return time_or_none(float(text), tz)
    parsed = _parse_time_text(text)
    if parsed is None:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _parse_time_text(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    for fmt in _TIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    try:
        day = date.fromisoformat(text[:10])
    except ValueError:
        return None
    return datetime(day.year, day.month, day.day)


def clean_name(value: object) -> str:
    """Service and category names arrive HTML-escaped from some panels (``&amp;``)."""
    return html.unescape(str(value or "")).strip()


def first_of(raw: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        if key in raw and raw[key] is not None:
            return raw[key]
    return None


# --- transport ------------------------------------------------------------------------------


def scrub(text: str, secrets: Iterable[str | None]) -> str:
    """Remove API keys from any text that may reach a log or a page."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return text


def root_url(url: str, *suffixes: str) -> str:
    """``https://panel.com/adminapi/v2/`` → ``https://panel.com`` (admins paste either)."""
    url = url.strip().rstrip("/")
    for suffix in suffixes:
        if url.lower().endswith(suffix):
            return url[: -len(suffix)].rstrip("/")
    return url


def host_of(url: str) -> str:
    return urlsplit(url).netloc or url


def looks_like_html(body: bytes, content_type: str) -> bool:
    head = body[:64].lstrip()
    if head.startswith((b"{", b"[")):
        return False  # many PHP panels send JSON labelled text/html
    return head.startswith(b"<") or "html" in content_type.lower()


@dataclass
class Answer:
    """A JSON answer of any HTTP status (the adapter decides what a 4xx means)."""

    status: int
    body: Any


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


async def request_json(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    what: str,
    secrets: Iterable[str | None],
    bucket: TokenBucket | None = None,
    time_limit: float | None = None,
    retries_on_429: int = 2,
    max_retry_wait: float = 5.0,
    **kwargs: Any,
) -> Answer:
    """Send one request through the panel's token bucket and read JSON.

    Raises ``PanelError`` for everything that is not JSON from the panel itself: network
    failures, timeouts, 5xx, 429 (after a few polite retries), HTML pages. 4xx JSON is returned
    so that each adapter can read its own error envelope. ``what`` names the call in messages,
    e.g. "Perfect Panel at panel.com".
    """
    secrets = list(secrets)
    attempt = 0
    while True:
        if bucket is not None:
            await bucket.acquire()
        try:
            response = await http.request(
                method, url,
                timeout=time_limit if time_limit is not None else httpx.USE_CLIENT_DEFAULT,
                **kwargs,
            )
        except httpx.TimeoutException:
            # `from None`: httpx exceptions carry the request, whose URL may hold a v1 key.
            raise PanelError(f"{what} did not answer in time.", reason=TIMEOUT) from None
        except httpx.HTTPError as exc:
            detail = scrub(type(exc).__name__ + (f": {exc}" if str(exc) else ""), secrets)
            raise PanelError(f"{what} could not be reached ({detail}).", reason=NETWORK) from None
        body = response.content
        content_type = response.headers.get("content-type", "")
        if response.status_code == 429:
            wait = _retry_after(response)
            if bucket is not None:
                bucket.pause(wait if wait is not None else 1.0)
            if attempt < retries_on_429 and (wait is None or wait <= max_retry_wait):
                attempt += 1
                continue
            raise PanelError(
                f"{what} asked us to slow down (HTTP 429).", reason=RATE_LIMITED,
                status_code=429, retry_after=wait,
            )
        if response.status_code in (404, 405, 410) and body.lstrip()[:1] not in (b"{", b"["):
            # A web server's own "not found" page, not the API's JSON: wrong address or type.
            raise PanelError(
                f"{what} has no such API at this address (HTTP {response.status_code}).",
                reason=UNSUPPORTED, status_code=response.status_code,
            )
        if body and looks_like_html(body, content_type):
            # Cloudflare ("Just a moment...", 403/503) and hosting error pages: the panel is
            # behind a wall right now; the same key may work a minute later.
            raise PanelError(
                f"{what} answered with an HTML page (HTTP {response.status_code}) instead of "
                "JSON, probably a Cloudflare check or a hosting error page.",
                reason=HTML_PAGE, status_code=response.status_code,
            )
        if response.status_code >= 500:
            raise PanelError(
                f"{what} had a server error (HTTP {response.status_code}).",
                reason=SERVER_ERROR, status_code=response.status_code,
            )
        try:
            parsed = json.loads(body) if body.strip() else None
        except ValueError:
            raise PanelError(
                f"{what} answered something that is not JSON (HTTP {response.status_code}).",
                reason=MALFORMED, status_code=response.status_code,
            ) from None
        return Answer(response.status_code, parsed)


def reason_from_text(message: str, default: str = BAD_REQUEST) -> str:
    """Guess a reason from an API's error words; panels use free text, not codes."""
    lowered = message.lower().replace("_", " ")
    if any(w in lowered for w in ("api key", "apikey", "bad auth", "invalid key", "wrong key",
                                  "unauthori", "authentication", "key is invalid")):
        return AUTH
    if any(w in lowered for w in ("permission", "access denied", "forbidden", "not allowed",
                                  "denied")):
        return PERMISSION
    if any(w in lowered for w in ("not found", "incorrect order", "no such", "doesn't exist",
                                  "does not exist", "unknown order", "invalid order",
                                  "incorrect user", "user not found")):
        return NOT_FOUND
    if any(w in lowered for w in ("bad action", "unknown action", "incorrect request",
                                  "invalid action", "method not", "not supported")):
        return UNSUPPORTED
    if any(w in lowered for w in ("too many", "rate limit", "slow down")):
        return RATE_LIMITED
    return default


def reason_from_status(status: int) -> str:
    return {401: AUTH, 403: PERMISSION, 404: NOT_FOUND, 405: UNSUPPORTED,
            429: RATE_LIMITED}.get(status, BAD_REQUEST if status < 500 else SERVER_ERROR)


# --- order and ticket parsing shared by the adapters ---------------------------------------


def parse_order(raw: Mapping[str, Any], tz: tzinfo = UTC) -> PanelOrder | None:
    """An order from Admin API v2 (``user``, ``status``, ``service_name``) or rental v1
    (``username``, ``order_status``, ``service``) field names, whichever are present."""
    order_id = id_or_none(first_of(raw, "id", "order_id", "order"))
    if order_id is None:
        return None
    service = raw.get("service")
    service_id = id_or_none(raw.get("service_id"))
    service_name = text_or_none(first_of(raw, "service_name", "service_title"))
    if isinstance(service, Mapping):
        service_id = service_id or id_or_none(service.get("id"))
        service_name = service_name or clean_name(service.get("name")) or None
    elif service is not None:
        # v1 sends the service *name* in "service"; some scripts send its id there.
        if str(service).strip().isdigit():
            service_id = service_id or str(service).strip()
        else:
            service_name = service_name or clean_name(service)
    raw_status = text_or_none(first_of(raw, "status", "order_status"))
    provider = first_of(raw, "provider", "provider_name", "provider_domain")
    return PanelOrder(
        id=order_id,
        external_id=id_or_none(first_of(raw, "external_id", "provider_order_id")),
        user=text_or_none(first_of(raw, "user", "username", "user_name", "login")),
        service_id=service_id,
        service_name=clean_name(service_name) if service_name else None,
        status=normalize_status(raw_status),
        raw_status=raw_status,
        remains=int_or_none(raw.get("remains")),
        start_count=int_or_none(raw.get("start_count")),
        quantity=int_or_none(first_of(raw, "quantity", "count")),
        link=text_or_none(raw.get("link")),
        charge=money_or_none(raw.get("charge"), first_of(raw, "currency", "currency_code")),
        provider=text_or_none(provider),
        created=time_or_none(first_of(raw, "created", "created_at", "date", "create_date",
                                      "created_timestamp"), tz),
        last_update=time_or_none(first_of(raw, "last_update", "updated", "updated_at",
                                          "last_update_timestamp"), tz),
        # Absent key = hidden by the key's permissions; present but empty = no provider order.
        external_id_hidden=not ("external_id" in raw or "provider_order_id" in raw),
        raw=dict(raw),
    )


def _is_staff(raw: Mapping[str, Any]) -> bool | None:
    for key in ("is_staff", "staff", "is_admin", "admin", "support", "from_admin", "is_support"):
        if key in raw:
            return bool_or_none(raw[key])
    sender_type = text_or_none(first_of(raw, "sender_type", "author_type", "type", "role"))
    if sender_type:
        return sender_type.lower() in ("staff", "admin", "support", "moderator", "agent")
    return None


def parse_ticket_message(raw: object, tz: tzinfo = UTC) -> TicketMessage | None:
    if isinstance(raw, str):
        return TicketMessage(text=raw)
    if not isinstance(raw, Mapping):
        return None
    text = first_of(raw, "message", "text", "content", "body")
    if text is None:
        return None
    return TicketMessage(
        text=str(text),
        author=text_or_none(first_of(raw, "sender", "author", "user", "username", "from")),
        staff=_is_staff(raw),
        created=time_or_none(first_of(raw, "created", "created_at", "date"), tz),
    )


def parse_ticket(raw: Mapping[str, Any], tz: tzinfo = UTC) -> PanelTicket | None:
    ticket_id = id_or_none(first_of(raw, "id", "ticket_id"))
    if ticket_id is None:
        return None
    messages: list[TicketMessage] = []
    listed = first_of(raw, "messages", "replies", "thread")
    if isinstance(listed, Mapping):
        listed = first_of(listed, "list", "data") or list(listed.values())
    if isinstance(listed, list):
        for item in listed:
            message = parse_ticket_message(item, tz)
            if message is not None:
                messages.append(message)
    elif raw.get("message") is not None:
        # List endpoints may carry only the opening message.
        messages.append(TicketMessage(text=str(raw["message"]),
                                      author=text_or_none(first_of(raw, "user", "username"))))
    return PanelTicket(
        id=ticket_id,
        user=text_or_none(first_of(raw, "user", "username", "user_name", "login")),
        subject=clean_name(first_of(raw, "subject", "title")),
        status=text_or_none(raw.get("status")),
        messages=messages,
        created=time_or_none(first_of(raw, "created", "created_at", "date"), tz),
        last_update=time_or_none(first_of(raw, "last_update", "updated", "updated_at"), tz),
        raw=dict(raw),
    )


def newer_than(ticket_id: str, since_id: str | None) -> bool:
    if since_id is None:
        return True
    if ticket_id.isdigit() and str(since_id).isdigit():
        return int(ticket_id) > int(since_id)
    return ticket_id > str(since_id)


def id_sort_key(value: str) -> tuple[int, str]:
    return (int(value), "") if value.isdigit() else (10**18, value)


def explain(exc: PanelError, what: str) -> str:
    """A sentence an admin can act on, for one failing part of a connection test."""
    if exc.reason == AUTH:
        return ("The Admin API key was rejected: copy the whole key again from the panel's "
                "Admin API page.")
    if exc.reason == PERMISSION:
        return (f"The key may not {what}: allow it in this key's permissions on the panel's "
                "Admin API page.")
    if exc.reason in (NOT_FOUND, UNSUPPORTED):
        return (f"The panel has no way to {what} at this address: check the panel address "
                "and the panel type.")
    return exc.message

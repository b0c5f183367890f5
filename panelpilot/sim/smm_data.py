"""What the SMM simulators share: their state, demo data, fault injection, the user/provider
API v2 and the JSON control API under ``/_sim``.

``panelpilot.sim.perfectpanel``, ``.rental`` and ``.provider`` each add their own Admin API on
top of ``SimBase``. Tests drive a simulator through its Python methods or over HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from panelpilot.sim.server import LoopbackServer

Handler = Callable[[Request], Awaitable[Response]]

# --- statuses as each API spells them -------------------------------------------------------

STATUSES = ("pending", "in_progress", "processing", "completed", "partial", "canceled")
ADMIN_V2_SPELLING = {s: s for s in STATUSES}  # in_progress, canceled
USER_API_SPELLING = {
    "pending": "Pending", "in_progress": "In progress", "processing": "Processing",
    "completed": "Completed", "partial": "Partial", "canceled": "Canceled",
}
RENTAL_SPELLING = dict(USER_API_SPELLING, canceled="Cancelled")


def canonical_status(text: str) -> str | None:
    key = " ".join(text.strip().lower().replace("_", " ").split()).replace(" ", "_")
    key = {"cancelled": "canceled", "inprogress": "in_progress"}.get(key, key)
    return key if key in STATUSES else None


def stamp(moment: datetime) -> str:
    """Perfect Panel style timestamps: panel-local, no zone (the simulators run on UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def money_text(amount: Decimal, places: str = "0.01") -> str:
    return str(amount.quantize(Decimal(places), rounding=ROUND_HALF_UP))


def now_utc() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


# --- state ----------------------------------------------------------------------------------


@dataclass
class SimUser:
    username: str
    balance: Decimal = Decimal("0")
    currency: str = "USD"
    email: str | None = None
    id: int = 0
    status: str = "active"


@dataclass
class SimService:
    id: str
    name: str
    category: str
    rate: Decimal
    min: int = 10
    max: int = 100000
    type: str = "Default"
    refill: bool = False
    cancel: bool = False
    provider: str | None = None


@dataclass
class SimOrder:
    id: str
    user: str
    service_id: str
    status: str = "pending"  # one of STATUSES
    quantity: int = 1000
    link: str = "https://instagram.com/example"
    charge: Decimal = Decimal("1.00")
    currency: str = "USD"
    start_count: int = 0
    remains: int = 0
    provider: str | None = None
    external_id: str | None = None
    created: datetime = field(default_factory=now_utc)
    last_update: datetime = field(default_factory=now_utc)
    raw_status: str | None = None  # send exactly this spelling instead of the API's own

    def status_as(self, spelling: Mapping[str, str]) -> str:
        return self.raw_status or spelling.get(self.status, self.status)


@dataclass
class SimMessage:
    author: str
    text: str
    staff: bool = False
    created: datetime = field(default_factory=now_utc)
    id: int = 0


@dataclass
class SimTicket:
    id: str
    user: str
    subject: str
    status: str = "pending"
    messages: list[SimMessage] = field(default_factory=list)
    created: datetime = field(default_factory=now_utc)
    last_update: datetime = field(default_factory=now_utc)


@dataclass
class ActionRecord:
    """A refill or cancel request received over the user/provider API."""

    order_id: str
    request_id: str
    by: str | None
    at: datetime = field(default_factory=now_utc)


class SimStore:
    """Users, services, orders and tickets of one simulated panel or provider."""

    def __init__(self) -> None:
        self.users: dict[str, SimUser] = {}
        self.services: dict[str, SimService] = {}
        self.orders: dict[str, SimOrder] = {}
        self.tickets: dict[str, SimTicket] = {}
        self.replies: list[tuple[str, str]] = []  # (ticket id, text) answered through the API
        self.created_tickets: list[SimTicket] = []  # opened through the API
        self.refill_requests: list[ActionRecord] = []
        self.cancel_requests: list[ActionRecord] = []
        self._next_order = 2274300
        self._next_ticket = 600
        self._next_user = 1000
        self._next_message = 1
        self._next_action = 1

    # ids

    def new_order_id(self) -> str:
        while str(self._next_order) in self.orders:
            self._next_order += 1
        self._next_order += 1
        return str(self._next_order - 1)

    def new_ticket_id(self) -> str:
        while str(self._next_ticket) in self.tickets:
            self._next_ticket += 1
        self._next_ticket += 1
        return str(self._next_ticket - 1)

    def new_action_id(self) -> str:
        self._next_action += 1
        return str(self._next_action - 1)

    # adding

    def add_user(self, username: str, balance: Decimal | str | float = "0", *,
                 currency: str = "USD", email: str | None = None) -> SimUser:
        self._next_user += 1
        user = SimUser(username=username, balance=Decimal(str(balance)), currency=currency,
                       email=email or f"{username}@example.com", id=self._next_user)
        self.users[username.lower()] = user
        return user

    def user(self, username: str | None) -> SimUser | None:
        return self.users.get((username or "").lower())

    def add_service(self, id: str | int, name: str, *, category: str = "Other",
                    rate: Decimal | str | float = "1.00", min: int = 10, max: int = 100000,
                    type: str = "Default", refill: bool = False, cancel: bool = False,
                    provider: str | None = None) -> SimService:
        service = SimService(id=str(id), name=name, category=category, rate=Decimal(str(rate)),
                             min=min, max=max, type=type, refill=refill, cancel=cancel,
                             provider=provider)
        self.services[service.id] = service
        return service

    def add_order(self, id: str | int | None = None, *, user: str = "john_doe",
                  service_id: str | int = "101", status: str = "pending",
                  quantity: int = 1000, link: str = "https://instagram.com/example",
                  charge: Decimal | str | float | None = None, currency: str = "USD",
                  start_count: int = 0, remains: int | None = None,
                  provider: str | None = None, external_id: str | None = None,
                  created: datetime | None = None, last_update: datetime | None = None,
                  age: timedelta | None = None) -> SimOrder:
        """Add an order; ``status`` may be any spelling (it is then sent as given)."""
        service = self.services.get(str(service_id))
        canonical = canonical_status(status)
        created = created or (now_utc() - age if age else now_utc())
        if charge is None:
            rate = service.rate if service else Decimal("1")
            charge = (rate * quantity / 1000).quantize(Decimal("0.0001"))
        if remains is None:
            remains = 0 if canonical == "completed" else quantity
        order = SimOrder(
            id=str(id) if id is not None else self.new_order_id(), user=user,
            service_id=str(service_id), status=canonical or status, quantity=quantity,
            link=link, charge=Decimal(str(charge)), currency=currency,
            start_count=start_count, remains=remains,
            provider=provider if provider is not None else (service.provider if service
                                                             else None),
            external_id=external_id, created=created,
            last_update=last_update or created + timedelta(hours=2),
            raw_status=None if status == canonical else status,
        )
        self.orders[order.id] = order
        return order

    def add_ticket(self, user: str, subject: str, message: str, *,
                   id: str | int | None = None, status: str = "pending",
                   created: datetime | None = None) -> SimTicket:
        created = created or now_utc()
        ticket = SimTicket(id=str(id) if id is not None else self.new_ticket_id(), user=user,
                           subject=subject, status=status, created=created,
                           last_update=created)
        self.tickets[ticket.id] = ticket
        self.add_message(ticket.id, message, author=user, staff=False, at=created)
        ticket.status = status
        return ticket

    def add_message(self, ticket_id: str, text: str, *, author: str, staff: bool,
                    at: datetime | None = None) -> SimMessage:
        ticket = self.tickets[str(ticket_id)]
        message = SimMessage(author=author, text=text, staff=staff, created=at or now_utc(),
                             id=self._next_message)
        self._next_message += 1
        ticket.messages.append(message)
        ticket.last_update = message.created
        ticket.status = "answered" if staff else "pending"
        return message

    def replies_to(self, ticket_id: str | int) -> list[str]:
        return [text for tid, text in self.replies if tid == str(ticket_id)]

    # demo data

    def seed_demo(self) -> SimStore:
        """Users, ~20 services with real-world names, orders in every status, tickets."""
        for username, balance in (("john_doe", "125.50"), ("jane_smith", "48.20"),
                                  ("ali_yilmaz", "310.00"), ("ivan_petrov", "12.75"),
                                  ("budi_santoso", "0.00")):
            self.add_user(username, balance)
        for args in DEMO_SERVICES:
            self.add_service(**args)
        now = now_utc()
        day = timedelta(days=1)
        add = self.add_order
        add(2274209, user="john_doe", service_id=101, status="completed", quantity=1000,
            start_count=1520, external_id="EXT-99812", provider="smmprovider.com",
            created=now - 10 * day, link="https://instagram.com/john.doe.shop")
        add(2274210, user="john_doe", service_id=103, status="in_progress", quantity=10000,
            start_count=230, remains=6400, external_id="EXT-99813",
            provider="smmprovider.com", created=now - 3 * timedelta(hours=1),
            link="https://www.tiktok.com/@johndoe/video/7301")
        add(2274211, user="john_doe", service_id=104, status="pending", quantity=500,
            external_id=None, provider="fastsmm.net", created=now - timedelta(minutes=20),
            link="https://youtube.com/watch?v=dQw4w9WgXcQ")
        add(2274212, user="john_doe", service_id=109, status="processing", quantity=2000,
            start_count=80, external_id="88120455", provider="fastsmm.net",
            created=now - timedelta(hours=5), link="https://x.com/johndoe")
        add(2274213, user="john_doe", service_id=101, status="partial", quantity=5000,
            start_count=1700, remains=1200, external_id="EXT-99815",
            provider="smmprovider.com", created=now - 6 * day)
        add(2274214, user="john_doe", service_id=102, status="canceled", quantity=300,
            external_id="EXT-99816", provider="smmprovider.com", created=now - 2 * day)
        add(2274215, user="john_doe", service_id=102, status="completed", quantity=500,
            start_count=40, external_id="EXT-99817", provider="smmprovider.com",
            created=now - 4 * day)
        add(2274216, user="ali_yilmaz", service_id=107, status="completed", quantity=3000,
            start_count=12000, external_id="451278", provider="Perfect Smm",
            created=now - 200 * day, link="https://instagram.com/ali.yilmaz")
        add(2274217, user="ali_yilmaz", service_id=105, status="completed", quantity=1000,
            start_count=800, external_id="451301", provider="Perfect Smm",
            created=now - 45 * day, link="https://instagram.com/ali.yilmaz")
        add(2274218, user="jane_smith", service_id=115, status="completed", quantity=2500,
            start_count=90, external_id="EXT-99820", provider="smmprovider.com",
            created=now - 5 * day, link="https://www.tiktok.com/@janesmith")
        add(2274219, user="john_doe", service_id=116, status="completed", quantity=10,
            external_id=None, provider=None, created=now - 1 * day)
        add(2274220, user="ivan_petrov", service_id=106, status="in_progress", quantity=1000,
            start_count=5100, remains=1000, external_id="77410023", provider="smmlite.ru",
            created=now - timedelta(hours=30), link="https://instagram.com/ivan.petrov")
        add(5163781, user="jane_smith", service_id=111, status="completed", quantity=5000,
            external_id="5163781", provider="fastsmm.net", created=now - 8 * day,
            link="https://open.spotify.com/track/1")
        add(5163782, user="jane_smith", service_id=111, status="completed", quantity=5000,
            external_id="5163782", provider="fastsmm.net", created=now - 8 * day,
            link="https://open.spotify.com/track/2")
        self.add_ticket("john_doe", "Order", "2274209 refill", id=501,
                        created=now - timedelta(minutes=40))
        self.add_ticket("jane_smith", "Orders", "Order ID: 2274218\nRequest: Speed up", id=502,
                        created=now - timedelta(minutes=30))
        self.add_ticket("john_doe", "Payment", "I paid 50 USDT but my balance is not updated",
                        id=503, created=now - timedelta(minutes=20))
        self.add_ticket("ali_yilmaz", "Order", "Request: Refill\nOrder ID: 2274216, 2274217",
                        id=504, created=now - timedelta(minutes=10))
        closed = self.add_ticket("ivan_petrov", "Order", "2274220 cancel", id=500,
                                 created=now - 2 * day)
        self.add_message(closed.id, "Your order has been canceled.", author="support",
                         staff=True, at=now - 2 * day + timedelta(hours=1))
        closed.status = "closed"
        return self


DEMO_SERVICES: list[dict[str, Any]] = [
    dict(id=101, name="Instagram Followers [Start: 0-1 Hour] [Refill: 30 Days] [10K/Day]",
         category="Instagram Followers", rate="1.20", min=50, max=100000, refill=True,
         cancel=True, provider="smmprovider.com"),
    dict(id=102, name="Instagram Likes | Instant | No Refill", category="Instagram Likes",
         rate="0.15", min=10, max=50000, provider="smmprovider.com", cancel=True),
    dict(id=103, name="TikTok Views | Instant | No Refill", category="TikTok",
         rate="0.01", min=100, max=10000000, provider="smmprovider.com"),
    dict(id=104, name="YouTube Likes ♻️ 30D Refill ⏱ 0-12 Hrs", category="YouTube",
         rate="2.40", min=20, max=20000, refill=True, provider="fastsmm.net"),
    dict(id=105, name="Instagram Takipçi [Başlama: 0-1 Saat] [30 Gün Telafi]",
         category="Instagram Takipçi 🇹🇷", rate="0.95", min=10, max=50000, refill=True,
         provider="Perfect Smm"),
    dict(id=106, name="Подписчики Instagram [Старт 0-2 часа] [Гарантия 30 дней]",
         category="Instagram | Подписчики", rate="1.10", min=100, max=30000, refill=True,
         cancel=True, provider="smmlite.ru"),
    dict(id=107, name="Instagram Followers - Lifetime Refill ♻️ - Start Time: Instant - 50K/Day",
         category="Instagram Followers", rate="2.10", min=100, max=500000, refill=True,
         provider="Perfect Smm"),
    dict(id=108, name="Telegram Members [NR] [Start: 0-6 Hours] [5K/Day]",
         category="Telegram", rate="0.80", min=100, max=50000, provider="fastsmm.net"),
    dict(id=109, name="Twitter/X Followers [R30] Start : 0-1 Hour - Speed 2K/Day",
         category="Twitter / X", rate="3.50", min=50, max=20000, refill=True, cancel=True,
         provider="fastsmm.net"),
    dict(id=110, name="Facebook Page Likes - 30 Days Guarantee - Non Drop",
         category="Facebook", rate="4.00", min=100, max=100000, refill=True,
         provider="smmprovider.com"),
    dict(id=111, name="Spotify Plays [Start: 0-24 Hours] [Refill: 90 Days]",
         category="Spotify", rate="0.60", min=1000, max=10000000, refill=True,
         provider="fastsmm.net"),
    dict(id=112, name="Pengikut Instagram [Mulai: 0-1 Jam] [Isi Ulang: 30 Hari]",
         category="Instagram Indonesia 🇮🇩", rate="0.70", min=50, max=20000, refill=True,
         provider="smmprovider.com"),
    dict(id=113, name="Instagram Reels Views | Max 10M | Start: 0-5 Min",
         category="Instagram Views", rate="0.02", min=100, max=10000000,
         provider="smmprovider.com"),
    dict(id=114, name="YouTube Views [Retention: 1-3 Min] [Refill: 30 Days] [Start: 0-12 Hours]",
         category="YouTube", rate="1.80", min=500, max=1000000, refill=True,
         provider="fastsmm.net"),
    dict(id=115, name="TikTok Followers [Refill: 15 Days] [Start: 0-2 Hours] [20K/Day] 🔥",
         category="TikTok", rate="2.90", min=10, max=100000, refill=True, cancel=True,
         provider="smmprovider.com"),
    dict(id=116, name="Instagram Custom Comments [Start: 0-1 Hour] [No Refill]",
         category="Instagram Comments", rate="9.00", min=5, max=1000,
         type="Custom Comments"),
    dict(id=117, name="Threads Followers ~ Lifetime Guarantee ~ Instant",
         category="Threads", rate="1.90", min=50, max=50000, refill=True,
         provider="smmprovider.com"),
    dict(id=118, name="YouTube Watch Time [4000 Hours] [Start: 0-48 Hours] [Non Drop] "
                      "[Lifetime Refill]",
         category="YouTube Watch Time", rate="45.00", min=100, max=4000, refill=True,
         provider="fastsmm.net"),
    dict(id=119, name="Twitch Live Viewers [15 Minutes] [No Refill]", category="Twitch",
         rate="0.90", min=10, max=5000, provider="fastsmm.net"),
    dict(id=120, name="Instagram Story Views [0-500] Instant Start",
         category="Instagram Views", rate="0.05", min=100, max=500,
         provider="smmprovider.com"),
    dict(id=121, name="Seguidores Instagram [Inicio: 0-1 Hora] [Reposición: 30 Días]",
         category="Instagram Seguidores", rate="1.05", min=20, max=40000, refill=True,
         provider="smmprovider.com"),
    dict(id=122, name="Instagram Auto Likes [Refill 30D] ⚡️ Speed: 5K/Day &amp; Real",
         category="Instagram Likes &amp; Auto", rate="0.40", min=50, max=10000, refill=True,
         provider="Perfect Smm"),
]


# --- faults ---------------------------------------------------------------------------------


CLOUDFLARE_PAGE = """<!DOCTYPE html>
<html lang="en-US"><head><title>Just a moment...</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<meta name="robots" content="noindex,nofollow"></head>
<body><div class="main-wrapper" role="main"><div class="main-content">
<h1 class="zone-name-title h1">panel.example</h1>
<h2 class="h2" id="challenge-running">Checking if the site connection is secure</h2>
<noscript><div class="h2">Enable JavaScript and cookies to continue</div></noscript>
</div></div><script>(function(){window._cf_chl_opt={cvId: '3',cType: 'managed'};})();
</script></body></html>
"""


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, str]
    at: float


@dataclass
class _Fault:
    kind: str  # "fail", "timeout", "html", "malformed"
    status: int = 500
    seconds: float = 10.0
    retry_after: float | None = None


class Faults:
    """Injected failures (one per request, in order) and a 429 rate limit of ~N requests/s."""

    def __init__(self, rate_limit: float | None = 5.0, burst: int | None = None) -> None:
        self.calls: list[Call] = []
        self._queue: deque[_Fault] = deque()
        self.rate_limit = rate_limit
        self.burst = burst
        self.rejected = 0  # requests answered 429 by the rate limit
        self._tat = 0.0

    def fail_next(self, status: int = 500, count: int = 1,
                  retry_after: float | None = None) -> None:
        self._queue.extend(_Fault("fail", status, retry_after=retry_after)
                           for _ in range(count))

    def timeout_next(self, count: int = 1, seconds: float = 10.0) -> None:
        self._queue.extend(_Fault("timeout", seconds=seconds) for _ in range(count))

    def html_next(self, count: int = 1, status: int = 503) -> None:
        self._queue.extend(_Fault("html", status) for _ in range(count))

    def malformed_next(self, count: int = 1) -> None:
        self._queue.extend(_Fault("malformed", 200) for _ in range(count))

    def clear(self) -> None:
        self._queue.clear()

    @property
    def pending(self) -> int:
        return len(self._queue)

    def _over_limit(self) -> bool:
        if not self.rate_limit:
            return False
        interval = 1.0 / self.rate_limit
        tau = (max(1, self.burst or round(self.rate_limit)) - 1) * interval
        now = time.monotonic()
        tat = max(self._tat, now)
        if tat - tau > now:
            return True
        self._tat = tat + interval
        return False

    async def intercept(self, request: Request, params: dict[str, str]) -> Response | None:
        self.calls.append(Call(request.method, request.url.path, params, time.time()))
        fault = self._queue.popleft() if self._queue else None
        if fault is None:
            if self._over_limit():
                self.rejected += 1
                return JSONResponse(
                    {"error": "Too many requests", "error_message": "Too many requests",
                     "error_code": 429}, status_code=429, headers={"Retry-After": "1"})
            return None
        if fault.kind == "timeout":
            await _hang(request, fault.seconds)
            return PlainTextResponse("", status_code=504)
        if fault.kind == "html":
            return HTMLResponse(CLOUDFLARE_PAGE, status_code=fault.status,
                                headers={"Server": "cloudflare", "CF-RAY": "8a1b2c3d4e5f-AMS"})
        if fault.kind == "malformed":
            return Response(b'{"data": {"count": 3, "list": [{"id": 22', status_code=200,
                            media_type="application/json")
        headers = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = f"{fault.retry_after:g}"
        return JSONResponse({"error": f"HTTP {fault.status}",
                             "error_message": f"Injected failure {fault.status}",
                             "error_code": fault.status},
                            status_code=fault.status, headers=headers)


async def _hang(request: Request, seconds: float) -> None:
    """Answer nothing for ``seconds``, but stop as soon as the client gives up."""
    await request.body()  # cached, so the handler could still read it afterwards
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await request.is_disconnected():
            return
        await asyncio.sleep(0.02)


async def read_params(request: Request) -> dict[str, str]:
    """Query, form or JSON parameters, merged: panels accept all three."""
    params = {k: v for k, v in request.query_params.items()}
    if request.method in ("POST", "PUT", "PATCH"):
        await request.body()  # cache it: form parsing would otherwise consume the stream
        content_type = request.headers.get("content-type", "")
        if "json" in content_type:
            try:
                body = json.loads(await request.body() or b"{}")
            except ValueError:
                body = {}
            if isinstance(body, dict):
                params.update({k: v if isinstance(v, str) else json.dumps(v)
                               for k, v in body.items()})
        elif "form" in content_type:
            form = await request.form()
            params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


# --- the user/provider API v2 ---------------------------------------------------------------


ANY_OWNER = "*"  # a provider's key: the reseller panel sees all orders placed with it


class UserApiV2:
    """``POST /api/v2`` with ``key`` and ``action``: services, add, status, refill, cancel…"""

    def __init__(self, store: SimStore, owner_of_key: Callable[[str], str | None]) -> None:
        self.store = store
        self.owner_of_key = owner_of_key

    async def handle(self, request: Request, params: dict[str, str]) -> Response:
        owner = self.owner_of_key(params.get("key", ""))
        if owner is None:
            # Panels answer a bad key with HTTP 200 and an error field.
            return JSONResponse({"error": "Invalid API key"})
        actions: dict[str, Callable[[str, dict[str, str]], Any]] = {
            "services": self._services, "add": self._add, "status": self._status,
            "refill": self._refill, "refill_status": self._refill_status,
            "cancel": self._cancel, "balance": self._balance,
        }
        handler = actions.get(params.get("action", ""))
        if handler is None:
            return JSONResponse({"error": "Incorrect request"})
        return JSONResponse(handler(owner, params))

    def _mine(self, owner: str, order_id: str) -> SimOrder | None:
        order = self.store.orders.get(order_id.strip())
        if order is None or (owner != ANY_OWNER and order.user.lower() != owner.lower()):
            return None
        return order

    @staticmethod
    def _ids(params: dict[str, str]) -> tuple[list[str], bool]:
        if params.get("orders"):
            return [i.strip() for i in params["orders"].split(",") if i.strip()], True
        return [params.get("order", "").strip()], False

    def _services(self, owner: str, params: dict[str, str]) -> Any:
        return [{"service": int(s.id) if s.id.isdigit() else s.id, "name": s.name,
                 "type": s.type, "category": s.category, "rate": money_text(s.rate),
                 "min": str(s.min), "max": str(s.max), "refill": s.refill, "cancel": s.cancel}
                for s in self.store.services.values()]

    def _balance(self, owner: str, params: dict[str, str]) -> Any:
        user = self.store.user(owner)
        if user is None:
            return {"balance": "0.00000", "currency": "USD"}
        return {"balance": money_text(user.balance, "0.00001"), "currency": user.currency}

    def _add(self, owner: str, params: dict[str, str]) -> Any:
        service = self.store.services.get(params.get("service", "").strip())
        if service is None:
            return {"error": "Incorrect service ID"}
        if not params.get("link"):
            return {"error": "Incorrect link"}
        try:
            quantity = int(params.get("quantity", "0"))
        except ValueError:
            return {"error": "Incorrect quantity"}
        if quantity < service.min:
            return {"error": "Quantity less than minimal " + str(service.min)}
        if quantity > service.max:
            return {"error": "Quantity more than maximum " + str(service.max)}
        charge = (service.rate * quantity / 1000).quantize(Decimal("0.0001"))
        user = self.store.user(owner)
        if user is not None:
            if user.balance < charge:
                return {"error": "Not enough funds on balance"}
            user.balance -= charge
        order = self.store.add_order(user=owner if owner != ANY_OWNER else "api",
                                     service_id=service.id, quantity=quantity,
                                     link=params["link"], charge=charge)
        return {"order": int(order.id) if order.id.isdigit() else order.id}

    def _one_status(self, owner: str, order_id: str) -> dict[str, Any]:
        order = self._mine(owner, order_id)
        if order is None:
            return {"error": "Incorrect order ID"}
        return {"charge": money_text(order.charge, "0.00001"),
                "start_count": str(order.start_count),
                "status": order.status_as(USER_API_SPELLING), "remains": str(order.remains),
                "currency": order.currency}

    def _status(self, owner: str, params: dict[str, str]) -> Any:
        ids, many = self._ids(params)
        if not many:
            return self._one_status(owner, ids[0])
        return {i: self._one_status(owner, i) for i in ids[:100]}

    def _one_refill(self, owner: str, order_id: str) -> Any:
        order = self._mine(owner, order_id)
        if order is None:
            return {"error": "Incorrect order ID"}
        service = self.store.services.get(order.service_id)
        if service is not None and not service.refill:
            return {"error": "Refill is disabled for this service"}
        if order.status not in ("completed", "partial"):
            return {"error": "Order is not completed"}
        record = ActionRecord(order.id, self.store.new_action_id(), owner)
        self.store.refill_requests.append(record)
        return int(record.request_id)

    def _refill(self, owner: str, params: dict[str, str]) -> Any:
        ids, many = self._ids(params)
        if not many:
            result = self._one_refill(owner, ids[0])
            return result if isinstance(result, dict) else {"refill": str(result)}
        return [{"order": int(i) if i.isdigit() else i, "refill": self._one_refill(owner, i)}
                for i in ids[:100]]

    def _refill_status(self, owner: str, params: dict[str, str]) -> Any:
        known = {r.request_id for r in self.store.refill_requests}
        if params.get("refills"):
            return [{"refill": r, "status": "Pending" if r in known else
                     {"error": "Refill not found"}} for r in params["refills"].split(",")]
        return {"status": "Pending"} if params.get("refill") in known else {
            "error": "Refill not found"}

    def _one_cancel(self, owner: str, order_id: str) -> Any:
        order = self._mine(owner, order_id)
        if order is None:
            return {"error": "Incorrect order ID"}
        service = self.store.services.get(order.service_id)
        if service is not None and not service.cancel:
            return {"error": "Cancel is disabled for this service"}
        if order.status not in ("pending", "in_progress", "processing"):
            return {"error": "Order can not be canceled"}
        record = ActionRecord(order.id, self.store.new_action_id(), owner)
        self.store.cancel_requests.append(record)
        return 1

    def _cancel(self, owner: str, params: dict[str, str]) -> Any:
        ids, _many = self._ids(params)
        return [{"order": int(i) if i.isdigit() else i, "cancel": self._one_cancel(owner, i)}
                for i in ids[:100]]


# --- base of every SMM simulator ------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def dump(obj: Any) -> Any:
    return _jsonable(asdict(obj))


class SimBase:
    """State, faults and control API of one simulated SMM system; subclasses add routes."""

    name = "SMM simulator"

    def __init__(self, *, rate_limit: float | None = 5.0, seed: bool = False) -> None:
        self.store = SimStore()
        self.faults = Faults(rate_limit)
        self.hide_external_id = False  # the admin key lacks the external id permission
        self.denied: set[str] = set()  # Admin API sections the key may not use
        self._app: Starlette | None = None
        if seed:
            self.seed_demo()

    # --- Python control, for tests ---

    def seed_demo(self) -> SimBase:
        self.store.seed_demo()
        return self

    def reset(self, seed: bool = False) -> None:
        self.store = SimStore()
        self.faults.clear()
        self.faults.calls.clear()
        self.hide_external_id = False
        self.denied.clear()
        self._on_reset()
        if seed:
            self.seed_demo()

    def _on_reset(self) -> None:
        """Subclasses rebuild whatever holds the old store."""

    def add_user(self, username: str, balance: Decimal | str | float = "0",
                 **kwargs: Any) -> SimUser:
        return self.store.add_user(username, balance, **kwargs)

    def add_service(self, id: str | int, name: str, **kwargs: Any) -> SimService:
        return self.store.add_service(id, name, **kwargs)

    def add_order(self, id: str | int | None = None, **kwargs: Any) -> SimOrder:
        return self.store.add_order(id, **kwargs)

    def add_ticket(self, user: str, subject: str, message: str, **kwargs: Any) -> SimTicket:
        return self.store.add_ticket(user, subject, message, **kwargs)

    def fail_next(self, status: int = 500, count: int = 1,
                  retry_after: float | None = None) -> None:
        self.faults.fail_next(status, count, retry_after)

    def timeout_next(self, count: int = 1, seconds: float = 10.0) -> None:
        self.faults.timeout_next(count, seconds)

    def html_next(self, count: int = 1, status: int = 503) -> None:
        self.faults.html_next(count, status)

    def malformed_next(self, count: int = 1) -> None:
        self.faults.malformed_next(count)

    @property
    def rate_limit(self) -> float | None:
        return self.faults.rate_limit

    @rate_limit.setter
    def rate_limit(self, value: float | None) -> None:
        self.faults.rate_limit = value

    @property
    def calls(self) -> list[Call]:
        return self.faults.calls

    def calls_to(self, path_prefix: str) -> list[Call]:
        return [c for c in self.faults.calls if c.path.startswith(path_prefix)]

    @property
    def replies(self) -> list[tuple[str, str]]:
        return self.store.replies

    def replies_to(self, ticket_id: str | int) -> list[str]:
        return self.store.replies_to(ticket_id)

    @property
    def created_tickets(self) -> list[SimTicket]:
        return self.store.created_tickets

    @property
    def refill_requests(self) -> list[ActionRecord]:
        return self.store.refill_requests

    @property
    def cancel_requests(self) -> list[ActionRecord]:
        return self.store.cancel_requests

    # --- HTTP ---

    @property
    def app(self) -> Starlette:
        if self._app is None:
            self._app = Starlette(routes=self.routes() + self.control_routes())
        return self._app

    def routes(self) -> list[BaseRoute]:
        return []

    def guarded(self, handler: Callable[[Request, dict[str, str]], Awaitable[Response]]
                ) -> Handler:
        """Wrap an API endpoint: log the call, apply injected faults and the rate limit."""

        async def endpoint(request: Request) -> Response:
            params = await read_params(request)
            early = await self.faults.intercept(request, params)
            if early is not None:
                return early
            return await handler(request, params)

        return endpoint

    def control_routes(self) -> list[BaseRoute]:
        return [
            Route("/_sim/state", self._c_state, methods=["GET"]),
            Route("/_sim/reset", self._c_reset, methods=["POST"]),
            Route("/_sim/faults", self._c_faults, methods=["POST"]),
            Route("/_sim/calls", self._c_calls, methods=["GET", "DELETE"]),
            Route("/_sim/users", self._c_users, methods=["GET", "POST"]),
            Route("/_sim/services", self._c_services, methods=["GET", "POST"]),
            Route("/_sim/orders", self._c_orders, methods=["GET", "POST"]),
            Route("/_sim/tickets", self._c_tickets, methods=["GET", "POST"]),
            Route("/_sim/tickets/{id}", self._c_ticket, methods=["GET"]),
            Route("/_sim/tickets/{id}/messages", self._c_ticket_message, methods=["POST"]),
            Route("/_sim/replies", self._c_replies, methods=["GET"]),
            Route("/_sim/created-tickets", self._c_created, methods=["GET"]),
            Route("/_sim/refills", self._c_refills, methods=["GET"]),
            Route("/_sim/cancels", self._c_cancels, methods=["GET"]),
        ]

    def state(self) -> dict[str, Any]:
        return {
            "name": self.name, "users": len(self.store.users),
            "services": len(self.store.services), "orders": len(self.store.orders),
            "tickets": len(self.store.tickets), "calls": len(self.faults.calls),
            "pending_faults": self.faults.pending, "rate_limit": self.faults.rate_limit,
            "rate_limited": self.faults.rejected,
            "hide_external_id": self.hide_external_id, "denied": sorted(self.denied),
        }

    async def _c_state(self, request: Request) -> Response:
        return JSONResponse(self.state())

    async def _c_reset(self, request: Request) -> Response:
        body = await _json(request)
        self.reset(seed=bool(body.get("seed", False)))
        return JSONResponse(self.state())

    async def _c_faults(self, request: Request) -> Response:
        body = await _json(request)
        if "fail_next" in body:
            spec = body["fail_next"]
            self.fail_next(int(spec.get("status", 500)), int(spec.get("count", 1)),
                           spec.get("retry_after"))
        if "timeout_next" in body:
            spec = body["timeout_next"]
            self.timeout_next(int(spec.get("count", 1)), float(spec.get("seconds", 10.0)))
        if "html_next" in body:
            spec = body["html_next"]
            self.html_next(int(spec.get("count", 1)), int(spec.get("status", 503)))
        if "malformed_next" in body:
            self.malformed_next(int(body["malformed_next"]))
        if "rate_limit" in body:
            self.rate_limit = body["rate_limit"]
        if "hide_external_id" in body:
            self.hide_external_id = bool(body["hide_external_id"])
        if "deny" in body:
            self.denied = set(body["deny"] or [])
        if body.get("clear"):
            self.faults.clear()
        self._apply_extra_faults(body)
        return JSONResponse(self.state())

    def _apply_extra_faults(self, body: dict[str, Any]) -> None:
        """Subclass switches (e.g. whether GET /orders honours its ids filter)."""

    async def _c_calls(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.calls.clear()
            return JSONResponse({"calls": 0})
        return JSONResponse([asdict(c) for c in self.faults.calls])

    async def _c_users(self, request: Request) -> Response:
        if request.method == "POST":
            body = await _json(request)
            user = self.add_user(body.pop("username"), body.pop("balance", "0"), **body)
            return JSONResponse(dump(user), status_code=201)
        return JSONResponse([dump(u) for u in self.store.users.values()])

    async def _c_services(self, request: Request) -> Response:
        if request.method == "POST":
            body = await _json(request)
            service = self.add_service(body.pop("id"), body.pop("name"), **body)
            return JSONResponse(dump(service), status_code=201)
        return JSONResponse([dump(s) for s in self.store.services.values()])

    async def _c_orders(self, request: Request) -> Response:
        if request.method == "POST":
            body = await _json(request)
            for key in ("created", "last_update"):
                if body.get(key):
                    body[key] = datetime.fromisoformat(body[key])
            if "age_days" in body:
                body["age"] = timedelta(days=float(body.pop("age_days")))
            order = self.add_order(body.pop("id", None), **body)
            return JSONResponse(dump(order), status_code=201)
        return JSONResponse([dump(o) for o in self.store.orders.values()])

    async def _c_tickets(self, request: Request) -> Response:
        if request.method == "POST":
            body = await _json(request)
            ticket = self.add_ticket(body.pop("user"), body.pop("subject"), body.pop("message"),
                                     **body)
            return JSONResponse(dump(ticket), status_code=201)
        return JSONResponse([dump(t) for t in self.store.tickets.values()])

    async def _c_ticket(self, request: Request) -> Response:
        ticket = self.store.tickets.get(request.path_params["id"])
        if ticket is None:
            return JSONResponse({"error": "no such ticket"}, status_code=404)
        return JSONResponse(dump(ticket))

    async def _c_ticket_message(self, request: Request) -> Response:
        ticket = self.store.tickets.get(request.path_params["id"])
        if ticket is None:
            return JSONResponse({"error": "no such ticket"}, status_code=404)
        body = await _json(request)
        message = self.store.add_message(ticket.id, body["text"],
                                         author=body.get("author", ticket.user),
                                         staff=bool(body.get("staff", False)))
        return JSONResponse(dump(message), status_code=201)

    async def _c_replies(self, request: Request) -> Response:
        return JSONResponse([{"ticket_id": t, "text": x} for t, x in self.store.replies])

    async def _c_created(self, request: Request) -> Response:
        return JSONResponse([dump(t) for t in self.store.created_tickets])

    async def _c_refills(self, request: Request) -> Response:
        return JSONResponse([dump(r) for r in self.store.refill_requests])

    async def _c_cancels(self, request: Request) -> Response:
        return JSONResponse([dump(r) for r in self.store.cancel_requests])


async def _json(request: Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def new_key(prefix: str) -> str:
    return f"{prefix}{secrets.token_hex(16)}"


# --- standalone running ---------------------------------------------------------------------


def run_cli(make: Callable[[argparse.Namespace], SimBase], prog: str, description: str,
            banner: Callable[[SimBase, str], str]) -> None:
    """``python -m panelpilot.sim.<name> --port N``: serve with demo data until Ctrl-C."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (0 picks a free one)")
    parser.add_argument("--rate-limit", type=float, default=5.0,
                        help="requests per second before 429 (0 turns the limit off)")
    parser.add_argument("--no-seed", action="store_true", help="start empty")
    parser.add_argument("--admin-key", default=None, help="the Admin API key to accept")
    parser.add_argument("--user-key", default=None, help="the user/provider API key to accept")
    args = parser.parse_args()
    sim = make(args)
    sim.rate_limit = args.rate_limit or None
    if not args.no_seed:
        sim.seed_demo()

    async def serve() -> None:
        server = LoopbackServer(sim.app, host=args.host, port=args.port)
        url = await server.start()
        print(banner(sim, url), flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await server.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())

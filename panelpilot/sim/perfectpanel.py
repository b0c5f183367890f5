"""A Perfect Panel on loopback: Admin API v2 (``/adminapi/v2``, ``X-Api-Key``) and the user
API v2 (``/api/v2``) over one shared state, with fault injection and a JSON control API.

Run it alone with demo data: ``python -m panelpilot.sim.perfectpanel --port 8081``.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from panelpilot.sim.smm_data import (
    ADMIN_V2_SPELLING,
    SimBase,
    SimOrder,
    SimTicket,
    UserApiV2,
    money_text,
    new_key,
    run_cli,
    stamp,
)

ORDERS, USERS, TICKETS = "orders", "users", "tickets"


def envelope(data: Any) -> dict[str, Any]:
    return {"data": data, "error_message": "", "error_code": 0}


def failure(status: int, message: str) -> JSONResponse:
    return JSONResponse({"data": None, "error_message": message, "error_code": status},
                        status_code=status)


def _int(value: str | None, default: int, low: int = 0, high: int = 1000) -> int:
    try:
        return max(low, min(high, int(value))) if value not in (None, "") else default
    except (TypeError, ValueError):
        return default


def _numeric(value: str) -> int | str:
    return int(value) if value.isdigit() else value


class PerfectPanelSim(SimBase):
    """Admin API v2 + user API v2. ``admin_key`` and ``user_key`` (john_doe's) are accepted."""

    name = "Perfect Panel"

    def __init__(self, *, admin_key: str | None = None, user_key: str | None = None,
                 user_key_owner: str = "john_doe", rate_limit: float | None = 5.0,
                 seed: bool = False) -> None:
        self.admin_key = admin_key or new_key("pp_admin_")
        self.user_key = user_key or new_key("pp_user_")
        self.user_key_owner = user_key_owner
        # Whether GET /orders honours ?ids=…; False imitates a panel that ignores the filter.
        self.ids_filter = True
        super().__init__(rate_limit=rate_limit, seed=seed)
        self.user_api = UserApiV2(self.store, self._owner_of_user_key)

    def _owner_of_user_key(self, key: str) -> str | None:
        return self.user_key_owner if key and key == self.user_key else None

    def _on_reset(self) -> None:
        self.ids_filter = True
        self.user_api = UserApiV2(self.store, self._owner_of_user_key)

    def _apply_extra_faults(self, body: dict[str, Any]) -> None:
        if "ids_filter" in body:
            self.ids_filter = bool(body["ids_filter"])

    def state(self) -> dict[str, Any]:
        return dict(super().state(), ids_filter=self.ids_filter)

    # --- shapes -------------------------------------------------------------------------

    def order_json(self, order: SimOrder) -> dict[str, Any]:
        service = self.store.services.get(order.service_id)
        data: dict[str, Any] = {
            "id": _numeric(order.id),
            "external_id": order.external_id,
            "user": order.user,
            "service_id": _numeric(order.service_id),
            "service_name": service.name if service else None,
            "status": order.status_as(ADMIN_V2_SPELLING),
            "remains": order.remains,
            "start_count": order.start_count,
            "quantity": order.quantity,
            "link": order.link,
            "charge": {"value": money_text(order.charge, "0.0001"),
                       "currency_code": order.currency,
                       "formatted": f"${money_text(order.charge)}"},
            "provider": order.provider,
            "created": stamp(order.created),
            "created_timestamp": int(order.created.timestamp()),
            "last_update": stamp(order.last_update),
            "mode": "auto" if order.provider else "manual",
        }
        if self.hide_external_id:
            del data["external_id"]  # a key without that permission never sees the field
        return data

    def ticket_json(self, ticket: SimTicket, *, with_messages: bool) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": _numeric(ticket.id),
            "user": ticket.user,
            "subject": ticket.subject,
            "status": ticket.status,
            "created": stamp(ticket.created),
            "last_update": stamp(ticket.last_update),
            "unread": not ticket.messages[-1].staff if ticket.messages else False,
        }
        if with_messages:
            data["messages"] = [
                {"id": m.id, "message": m.text, "sender": m.author, "is_staff": m.staff,
                 "created": stamp(m.created)} for m in ticket.messages
            ]
        return data

    def listing(self, request: Request, items: list[Any], offset: int, limit: int
                ) -> JSONResponse:
        page = items[offset:offset + limit]
        base = str(request.url.remove_query_params(["offset"]))
        nxt = (f"{base}{'&' if '?' in base else '?'}offset={offset + limit}"
               if offset + limit < len(items) else None)
        prv = (f"{base}{'&' if '?' in base else '?'}offset={max(0, offset - limit)}"
               if offset else None)
        return JSONResponse({
            "data": {"count": len(items), "list": page},
            "pagination": {"prev_page_href": prv, "next_page_href": nxt, "offset": offset,
                           "limit": limit},
            "error_message": "", "error_code": 0,
        })

    # --- routes -------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        admin = "/adminapi/v2"
        return [
            Route(f"{admin}/orders", self.guarded(self._orders), methods=["GET"]),
            Route(f"{admin}/orders/{{id}}", self.guarded(self._order), methods=["GET"]),
            Route(f"{admin}/users", self.guarded(self._users), methods=["GET"]),
            Route(f"{admin}/tickets", self.guarded(self._tickets), methods=["GET"]),
            Route(f"{admin}/tickets/add", self.guarded(self._ticket_add), methods=["POST"]),
            Route(f"{admin}/tickets/{{id}}", self.guarded(self._ticket), methods=["GET"]),
            Route(f"{admin}/tickets/{{id}}/reply", self.guarded(self._ticket_reply),
                  methods=["POST"]),
            Route("/api/v2", self.guarded(self._user_api), methods=["GET", "POST"]),
            Route(f"{admin}/{{rest:path}}", self.guarded(self._unknown),
                  methods=["GET", "POST", "PUT", "DELETE"]),
        ]

    def _refuse(self, request: Request, section: str) -> JSONResponse | None:
        if request.headers.get("x-api-key") != self.admin_key:
            return failure(401, "Invalid API key")
        if section in self.denied:
            return failure(403, f"The API key has no access to {section}")
        return None

    async def _unknown(self, request: Request, params: dict[str, str]) -> Response:
        return self._refuse(request, "") or failure(404, "Not found")

    async def _user_api(self, request: Request, params: dict[str, str]) -> Response:
        return await self.user_api.handle(request, params)

    async def _orders(self, request: Request, params: dict[str, str]) -> Response:
        refused = self._refuse(request, ORDERS)
        if refused:
            return refused
        orders: Iterable[SimOrder] = self.store.orders.values()
        if self.ids_filter and params.get("ids"):
            wanted = {i.strip() for i in params["ids"].split(",")}
            orders = [o for o in orders if o.id in wanted]
        if params.get("user"):
            orders = [o for o in orders if o.user.lower() == params["user"].lower()]
        if params.get("status") or params.get("order_status"):
            status = (params.get("status") or params.get("order_status") or "").lower()
            orders = [o for o in orders if o.status == status.replace(" ", "_")]
        if params.get("service_ids"):
            services = {i.strip() for i in params["service_ids"].split(",")}
            orders = [o for o in orders if o.service_id in services]
        ordered = sorted(orders, key=lambda o: (o.created, o.id),
                         reverse=params.get("sort", "date-desc") != "date-asc")
        return self.listing(request, [self.order_json(o) for o in ordered],
                            _int(params.get("offset"), 0, high=10**9),
                            _int(params.get("limit"), 100, low=1))

    async def _order(self, request: Request, params: dict[str, str]) -> Response:
        refused = self._refuse(request, ORDERS)
        if refused:
            return refused
        order = self.store.orders.get(request.path_params["id"])
        if order is None:
            return failure(404, "Order not found")
        return JSONResponse(envelope(self.order_json(order)))

    async def _users(self, request: Request, params: dict[str, str]) -> Response:
        refused = self._refuse(request, USERS)
        if refused:
            return refused
        users = list(self.store.users.values())
        if params.get("username"):
            users = [u for u in users if u.username.lower() == params["username"].lower()]
        items = [{"id": u.id, "username": u.username, "email": u.email,
                  "balance": {"value": money_text(u.balance), "currency_code": u.currency,
                              "formatted": f"${money_text(u.balance)}"},
                  "status": u.status} for u in users]
        return self.listing(request, items, _int(params.get("offset"), 0, high=10**9),
                            _int(params.get("limit"), 100, low=1))

    async def _tickets(self, request: Request, params: dict[str, str]) -> Response:
        refused = self._refuse(request, TICKETS)
        if refused:
            return refused
        tickets = sorted(self.store.tickets.values(), key=lambda t: (t.created, int(t.id)
                         if t.id.isdigit() else 0), reverse=True)
        if params.get("status"):
            tickets = [t for t in tickets if t.status == params["status"].lower()]
        if params.get("user"):
            tickets = [t for t in tickets if t.user.lower() == params["user"].lower()]
        return self.listing(request, [self.ticket_json(t, with_messages=False) for t in tickets],
                            _int(params.get("offset"), 0, high=10**9),
                            _int(params.get("limit"), 100, low=1))

    async def _ticket(self, request: Request, params: dict[str, str]) -> Response:
        refused = self._refuse(request, TICKETS)
        if refused:
            return refused
        ticket = self.store.tickets.get(request.path_params["id"])
        if ticket is None:
            return failure(404, "Ticket not found")
        return JSONResponse(envelope(self.ticket_json(ticket, with_messages=True)))

    async def _ticket_reply(self, request: Request, params: dict[str, str]) -> Response:
        refused = self._refuse(request, TICKETS)
        if refused:
            return refused
        ticket = self.store.tickets.get(request.path_params["id"])
        if ticket is None:
            return failure(404, "Ticket not found")
        text = (params.get("message") or "").strip()
        if not text:
            return failure(400, "Message cannot be blank")
        message = self.store.add_message(ticket.id, text, author="support", staff=True)
        self.store.replies.append((ticket.id, text))
        return JSONResponse(envelope({"id": message.id, "ticket_id": _numeric(ticket.id)}))

    async def _ticket_add(self, request: Request, params: dict[str, str]) -> Response:
        refused = self._refuse(request, TICKETS)
        if refused:
            return refused
        username = (params.get("username") or params.get("user") or "").strip()
        subject = (params.get("subject") or "").strip()
        text = (params.get("message") or "").strip()
        if not subject or not text:
            return failure(400, "Subject and message are required")
        user = self.store.user(username)
        if user is None:
            return failure(400, "User not found")
        ticket = self.store.add_ticket(user.username, subject, text)
        self.store.created_tickets.append(ticket)
        return JSONResponse(envelope({"id": _numeric(ticket.id)}))


def _make(args: argparse.Namespace) -> PerfectPanelSim:
    return PerfectPanelSim(admin_key=args.admin_key, user_key=args.user_key)


def _banner(sim: Any, url: str) -> str:
    return (f"Perfect Panel simulator at {url}\n"
            f"  Admin API v2: {url}/adminapi/v2   X-Api-Key: {sim.admin_key}\n"
            f"  User API v2:  {url}/api/v2        key: {sim.user_key}\n"
            f"  Control:      {url}/_sim/state")


def main() -> None:
    run_cli(_make, "python -m panelpilot.sim.perfectpanel",
            "Perfect Panel simulator (Admin API v2 + user API v2) with demo data.", _banner)


if __name__ == "__main__":
    main()

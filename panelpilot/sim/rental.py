"""A rental panel on loopback: Admin API v1 (``/adminapi/v1?key=…&action=…``) and the user API
v2 (``/api/v2``), with fault injection and the JSON control API.

v1 answers ``{"status": "success", ...}`` or ``{"error": "bad_auth"}``; order fields are
``username``, ``order_status`` (``Cancelled``, ``In progress``) and ``service`` (the name).
Like the published v1 it has ``addTicket`` but no way to read or answer tickets.
Run it alone: ``python -m panelpilot.sim.rental --port 8082``.
"""

from __future__ import annotations

import argparse
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from panelpilot.sim.smm_data import (
    RENTAL_SPELLING,
    SimBase,
    SimOrder,
    UserApiV2,
    canonical_status,
    money_text,
    new_key,
    now_utc,
    run_cli,
    stamp,
)


class RentalPanelSim(SimBase):
    name = "Rental panel"

    def __init__(self, *, admin_key: str | None = None, user_key: str | None = None,
                 user_key_owner: str = "john_doe", rate_limit: float | None = 5.0,
                 seed: bool = False) -> None:
        self.admin_key = admin_key or new_key("rp_admin_")
        self.user_key = user_key or new_key("rp_user_")
        self.user_key_owner = user_key_owner
        super().__init__(rate_limit=rate_limit, seed=seed)
        self.user_api = UserApiV2(self.store, self._owner_of_user_key)

    def _owner_of_user_key(self, key: str) -> str | None:
        return self.user_key_owner if key and key == self.user_key else None

    def _on_reset(self) -> None:
        self.user_api = UserApiV2(self.store, self._owner_of_user_key)

    def order_json(self, order: SimOrder, *, with_provider: bool) -> dict[str, Any]:
        service = self.store.services.get(order.service_id)
        data: dict[str, Any] = {
            "id": order.id,
            "username": order.user,
            "service_id": order.service_id,
            "service": service.name if service else "",
            "link": order.link,
            "quantity": str(order.quantity),
            "start_count": str(order.start_count),
            "remains": str(order.remains),
            "charge": money_text(order.charge, "0.00001"),
            "currency": order.currency,
            "order_status": order.status_as(RENTAL_SPELLING),
            "date": stamp(order.created),
            "current_date": stamp(now_utc()),
        }
        if with_provider:
            data["provider"] = order.provider or ""
            if not self.hide_external_id:
                data["external_id"] = order.external_id or ""
        return data

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/adminapi/v1", self.guarded(self._admin), methods=["GET", "POST"]),
            Route("/api/v2", self.guarded(self._user_api), methods=["GET", "POST"]),
        ]

    async def _user_api(self, request: Request, params: dict[str, str]) -> Response:
        return await self.user_api.handle(request, params)

    async def _admin(self, request: Request, params: dict[str, str]) -> Response:
        if params.get("key") != self.admin_key:
            return JSONResponse({"error": "bad_auth"})
        action = params.get("action", "")
        if action in self.denied:
            return JSONResponse({"status": "error", "error": "access_denied"})
        handlers = {"getOrders": self._get_orders, "getOrders-by-id": self._orders_by_id,
                    "getUser": self._get_user, "addTicket": self._add_ticket}
        handler = handlers.get(action)
        if handler is None:
            return JSONResponse({"error": "bad_action"})
        return JSONResponse(handler(params))

    def _get_orders(self, params: dict[str, str]) -> dict[str, Any]:
        orders = sorted(self.store.orders.values(), key=lambda o: o.created, reverse=True)
        if params.get("status"):
            wanted = canonical_status(params["status"])
            orders = [o for o in orders if o.status == wanted]
        try:
            limit = max(1, min(1000, int(params.get("limit") or 100)))
        except ValueError:
            limit = 100
        with_provider = params.get("provider") == "1"
        return {"status": "success",
                "orders": [self.order_json(o, with_provider=with_provider)
                           for o in orders[:limit]]}

    def _orders_by_id(self, params: dict[str, str]) -> dict[str, Any]:
        ids = [i.strip() for i in (params.get("orders") or "").split(",") if i.strip()]
        if not ids:
            return {"status": "error", "error": "bad_orders"}
        with_provider = params.get("provider") == "1"
        return {"status": "success",
                "orders": [self.order_json(self.store.orders[i], with_provider=with_provider)
                           for i in ids if i in self.store.orders]}

    def _get_user(self, params: dict[str, str]) -> dict[str, Any]:
        user = self.store.user(params.get("username"))
        if user is None:
            return {"status": "error", "error": "user_not_found"}
        return {"status": "success",
                "user": {"id": str(user.id), "username": user.username, "email": user.email,
                         "balance": money_text(user.balance, "0.0001"),
                         "currency": user.currency, "status": user.status}}

    def _add_ticket(self, params: dict[str, str]) -> dict[str, Any]:
        user = self.store.user(params.get("username"))
        if user is None:
            return {"status": "error", "error": "user_not_found"}
        subject = (params.get("subject") or "").strip()
        text = (params.get("message") or "").strip()
        if not subject or not text:
            return {"status": "error", "error": "bad_ticket"}
        ticket = self.store.add_ticket(user.username, subject, text)
        self.store.created_tickets.append(ticket)
        return {"status": "success", "ticket_id": int(ticket.id)}


def _make(args: argparse.Namespace) -> RentalPanelSim:
    return RentalPanelSim(admin_key=args.admin_key, user_key=args.user_key)


def _banner(sim: Any, url: str) -> str:
    return (f"Rental panel simulator at {url}\n"
            f"  Admin API v1: {url}/adminapi/v1?key={sim.admin_key}&action=getOrders\n"
            f"  User API v2:  {url}/api/v2  key: {sim.user_key}\n"
            f"  Control:      {url}/_sim/state")


def main() -> None:
    run_cli(_make, "python -m panelpilot.sim.rental",
            "Rental panel simulator (Admin API v1 + user API v2) with demo data.", _banner)


if __name__ == "__main__":
    main()

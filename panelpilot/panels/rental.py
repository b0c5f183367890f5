"""Rental panel adapter: the older Admin API v1 (``https://<panel>/adminapi/v1?key=…&action=…``).

Order fields are ``username``, ``order_status`` and ``service`` (the service *name*); answers
are ``{"status": "success", "orders": [...]}`` or ``{"error": "bad_auth"}`` style. The public
description of v1 lists order, user, payment and ``addTicket`` actions but no way to read or
answer tickets, so those calls raise an ``unsupported`` PanelError. Services come from the
panel's user API v2, as for Perfect Panel.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any

import httpx

from panelpilot.panels.base import (
    AUTH,
    EXTERNAL_ID_HIDDEN_NOTE,
    MALFORMED,
    NOT_CONFIGURED,
    NOT_FOUND,
    PART_EXTERNAL_ID,
    PART_ORDERS,
    PART_SERVICES,
    PART_TICKETS,
    PART_USERS,
    UNSUPPORTED,
    ConnectionReport,
    PanelError,
    PanelOrder,
    PanelService,
    PanelTicket,
    PanelUser,
    decimal_or_none,
    explain,
    first_of,
    host_of,
    id_or_none,
    money_or_none,
    parse_order,
    reason_from_status,
    reason_from_text,
    request_json,
    root_url,
    scrub,
    text_or_none,
    time_or_none,
)
from panelpilot.panels.ratelimit import bucket_for
from panelpilot.panels.smmapi import SmmApiClient

IDS_PER_CALL = 100  # getOrders-by-id takes a comma list; no maximum is published

NO_TICKET_READING = (
    "Rental panels' Admin API v1 cannot list, read or answer tickets (only create them), so "
    "ticket rules need a Perfect Panel; account linking by ticket still works."
)


class RentalPanelAdapter:
    panel_type = "rental"

    def __init__(
        self, *, base_url: str, api_key: str, http: httpx.AsyncClient,
        user_api_key: str | None = None, rate: float | None = None, burst: int | None = None,
        timeout: float | None = 20.0, tz: tzinfo | None = None,
    ) -> None:
        self.root = root_url(base_url, "/adminapi/v1", "/api/v2")
        self.admin_url = self.root + "/adminapi/v1"
        self._key = api_key
        self._user_key = user_api_key
        self._http = http
        self._timeout = timeout
        self._tz = tz  # None: learned from the panel's "current_date" when it sends one
        self.bucket = bucket_for(self.root, rate, burst)
        self.what = f"Rental panel at {host_of(self.root)}"
        self.user_api = (
            SmmApiClient(self.root + "/api/v2", user_api_key, http, bucket=self.bucket,
                         timeout=timeout, name="panel's user API")
            if user_api_key else None
        )

    async def _action(self, action: str, *, post: bool = False, **params: object
                      ) -> Mapping[str, Any]:
        fields = {"key": self._key, "action": action}
        fields.update({k: str(v) for k, v in params.items() if v is not None})
        # Public v1 clients read with GET and the key in the query string (the documented
        # form); writes go as a POST form. Either way the key never reaches an error text.
        extra: dict[str, Any] = {"data": fields} if post else {"params": fields}
        answer = await request_json(
            self._http, "POST" if post else "GET", self.admin_url, what=self.what,
            secrets=[self._key, self._user_key], bucket=self.bucket, time_limit=self._timeout,
            headers={"Accept": "application/json"}, **extra,
        )
        body = answer.body
        if isinstance(body, list):
            body = {"status": "success", "orders": body}
        if not isinstance(body, Mapping):
            raise PanelError(f"{self.what} gave an unreadable answer to {action}.",
                             reason=MALFORMED)
        error = text_or_none(first_of(body, "error", "error_message"))
        status = str(body.get("status") or "").lower()
        if answer.status < 400 and not error and status not in ("error", "fail", "failed"):
            return body
        message = scrub(error or text_or_none(body.get("message")) or f"HTTP {answer.status}",
                        [self._key, self._user_key])
        reason = reason_from_text(message, reason_from_status(answer.status)
                                  if answer.status >= 400 else "bad_request")
        raise PanelError(f"{self.what} refused {action}: {message}", reason=reason,
                         status_code=answer.status, detail=message)

    def _zone(self, raw: Mapping[str, Any]) -> tzinfo:
        """The panel's zone: configured, else guessed from its own clock in ``current_date``.

        v1 dates carry no zone and the docs do not name one; rental panels send their local
        "now" next to each order, which gives the offset to within a quarter hour.
        """
        if self._tz is not None:
            return self._tz
        now_there = time_or_none(raw.get("current_date"), UTC)
        if now_there is None:
            return UTC
        offset = now_there.replace(tzinfo=None) - datetime.now(UTC).replace(tzinfo=None)
        quarters = round(offset.total_seconds() / 900)
        if abs(quarters) > 14 * 4:
            return UTC
        self._tz = timezone(timedelta(minutes=15 * quarters)) if quarters else UTC
        return self._tz

    @staticmethod
    def _orders_in(body: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        orders = first_of(body, "orders", "data", "list")
        if isinstance(orders, Mapping):
            # getOrders answers {"7618634": {...}} on some panels.
            orders = [dict(v, id=v.get("id", k)) for k, v in orders.items()
                      if isinstance(v, Mapping)]
        return [o for o in orders if isinstance(o, Mapping)] if isinstance(orders, list) else []

    async def get_orders(self, ids: list[str]) -> dict[str, PanelOrder]:
        wanted = list(dict.fromkeys(str(i).strip() for i in ids if str(i).strip().isdigit()))
        found: dict[str, PanelOrder] = {}
        for start in range(0, len(wanted), IDS_PER_CALL):
            chunk = wanted[start:start + IDS_PER_CALL]
            try:
                # provider=1 adds provider and external_id, as the v1 docs describe.
                body = await self._action("getOrders-by-id", orders=",".join(chunk), provider=1)
            except PanelError as exc:
                if exc.reason == NOT_FOUND:
                    continue
                raise
            for raw in self._orders_in(body):
                order = parse_order(raw, self._zone(raw))
                if order is not None and order.id in chunk:
                    found[order.id] = order
        return found

    async def get_user(self, username: str) -> PanelUser | None:
        username = username.strip()
        if not username:
            return None
        try:
            body = await self._action("getUser", username=username)
        except PanelError as exc:
            if exc.reason == NOT_FOUND:
                return None
            raise
        raw = first_of(body, "user", "data")
        raw = raw if isinstance(raw, Mapping) else body
        name = text_or_none(first_of(raw, "username", "login", "user"))
        if name is None or name.lower() != username.lower():
            return None
        balance = raw.get("balance")
        money = money_or_none(balance, first_of(raw, "currency", "currency_code"))
        return PanelUser(username=name, balance=decimal_or_none(balance),
                         currency=money.currency if money else None, raw=dict(raw))

    async def list_services(self) -> list[PanelService]:
        if self.user_api is None:
            raise PanelError(
                "No user API key is configured for this panel: the service list comes from "
                "the panel's user API (api/v2, action services).", reason=NOT_CONFIGURED)
        return await self.user_api.services()

    async def list_tickets(
        self, status: str | None = None, since_id: str | None = None, limit: int = 50
    ) -> list[PanelTicket]:
        raise PanelError(NO_TICKET_READING, reason=UNSUPPORTED)

    async def get_ticket(self, ticket_id: str) -> PanelTicket | None:
        raise PanelError(NO_TICKET_READING, reason=UNSUPPORTED)

    async def reply_ticket(self, ticket_id: str, message: str) -> None:
        raise PanelError(NO_TICKET_READING, reason=UNSUPPORTED)

    async def create_ticket(self, username: str, subject: str, message: str) -> str:
        body = await self._action("addTicket", post=True, username=username, subject=subject,
                                  message=message)
        data = first_of(body, "ticket", "data")
        ticket_id = id_or_none(first_of(body, "ticket_id", "id")) or (
            id_or_none(first_of(data, "id", "ticket_id")) if isinstance(data, Mapping)
            else id_or_none(data))
        # Accepted without an id (the v1 answer is not documented): "" = created, id unknown,
        # rather than a failure that would make the caller open the ticket twice.
        return ticket_id or ""

    async def test_connection(self) -> ConnectionReport:
        report = ConnectionReport()
        report.skip(PART_TICKETS, NO_TICKET_READING)
        sample: list[Mapping[str, Any]] = []
        try:
            sample = self._orders_in(await self._action("getOrders", limit=1, provider=1))
        except PanelError as exc:
            report.fail(PART_ORDERS, explain(exc, "read orders"))
            if exc.reason == AUTH or exc.transient:
                for part in (PART_EXTERNAL_ID, PART_USERS):
                    report.fail(part, report.problems[PART_ORDERS])
                await self._check_services(report)
                return report.finish()
        else:
            report.succeed(PART_ORDERS)
        if not sample:
            note = "The panel sent no order, so this could not be checked."
            if report.orders_readable:
                report.skip(PART_EXTERNAL_ID, note)
            report.skip(PART_USERS, note)
        else:
            if "external_id" in sample[0]:
                report.succeed(PART_EXTERNAL_ID)
            else:
                report.fail(PART_EXTERNAL_ID, EXTERNAL_ID_HIDDEN_NOTE)
            # v1 has no user list: look up the owner of the sample order.
            username = text_or_none(first_of(sample[0], "username", "user"))
            try:
                user = await self.get_user(username) if username else None
            except PanelError as exc:
                report.fail(PART_USERS, explain(exc, "read users"))
            else:
                if user is None:
                    report.fail(PART_USERS, "The panel did not find the owner of its own "
                                            "latest order: user lookups do not work.")
                else:
                    report.succeed(PART_USERS)
        await self._check_services(report)
        return report.finish()

    async def _check_services(self, report: ConnectionReport) -> None:
        if self.user_api is None:
            report.skip(PART_SERVICES, "No user API key: add one to read the service list "
                                       "(start times and refill policies).")
            return
        try:
            await self.user_api.services()
        except PanelError as exc:
            message = ("The user API key was rejected: copy it again from the panel's API page."
                       if exc.reason == AUTH else exc.message)
            report.fail(PART_SERVICES, message)
        else:
            report.succeed(PART_SERVICES)

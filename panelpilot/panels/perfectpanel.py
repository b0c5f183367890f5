"""Perfect Panel adapter: Admin API v2 (``https://<panel>/adminapi/v2``, header ``X-Api-Key``).

Orders, users and tickets come from the Admin API; the service catalogue from the panel's user
API v2 (``https://<panel>/api/v2``, action ``services``) when a user API key is configured.
Answers are envelopes ``{"data": …, "error_message", "error_code"}``; lists are
``{"data": {"count", "list"}, "pagination": …}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, tzinfo
from typing import Any

import httpx

from panelpilot.panels.base import (
    AUTH,
    BAD_REQUEST,
    EXTERNAL_ID_HIDDEN_NOTE,
    MALFORMED,
    NOT_CONFIGURED,
    NOT_FOUND,
    PART_EXTERNAL_ID,
    PART_ORDERS,
    PART_SERVICES,
    PART_TICKETS,
    PART_USERS,
    ConnectionReport,
    PanelError,
    PanelOrder,
    PanelService,
    PanelTicket,
    PanelUser,
    currency_of,
    decimal_or_none,
    explain,
    first_of,
    host_of,
    id_or_none,
    id_sort_key,
    int_or_none,
    newer_than,
    parse_order,
    parse_ticket,
    reason_from_status,
    reason_from_text,
    request_json,
    root_url,
    scrub,
    text_or_none,
)
from panelpilot.panels.ratelimit import bucket_for
from panelpilot.panels.smmapi import SmmApiClient

# The docs give no maximum for the ids filter; 100 ids keep the URL short on every server.
IDS_PER_CALL = 100

# Whether a panel honours the ids filter of GET /orders, learned once per panel and process.
_ids_filter_works: dict[str, bool] = {}


MAX_TICKET_PAGES = 20  # per run; a panel with more new tickets than this is read next run

class PerfectPanelAdapter:
    panel_type = "perfectpanel"

    def __init__(
        self, *, base_url: str, api_key: str, http: httpx.AsyncClient,
        user_api_key: str | None = None, rate: float | None = None, burst: int | None = None,
        timeout: float | None = 20.0, tz: tzinfo = UTC,
    ) -> None:
        self.root = root_url(base_url, "/adminapi/v2", "/api/v2")
        self.admin_url = self.root + "/adminapi/v2"
        self._key = api_key
        self._user_key = user_api_key
        self._http = http
        self._timeout = timeout
        self._tz = tz
        self.bucket = bucket_for(self.root, rate, burst)
        self.what = f"Perfect Panel at {host_of(self.root)}"
        self.user_api = (
            SmmApiClient(self.root + "/api/v2", user_api_key, http, bucket=self.bucket,
                         timeout=timeout, name="panel's user API")
            if user_api_key else None
        )

    # --- transport ----------------------------------------------------------------------

    async def _send(self, method: str, path: str, **kwargs: Any) -> Mapping[str, Any]:
        answer = await request_json(
            self._http, method, self.admin_url + path, what=self.what,
            secrets=[self._key, self._user_key], bucket=self.bucket, time_limit=self._timeout,
            headers={"X-Api-Key": self._key, "Accept": "application/json"}, **kwargs,
        )
        body = answer.body if isinstance(answer.body, Mapping) else {"data": answer.body}
        message = text_or_none(first_of(body, "error_message", "error"))
        code = int_or_none(body.get("error_code"))
        # Success envelopes carry an empty error_message and error_code 0 (or none at all).
        if answer.status < 400 and not message and code in (None, 0, 200):
            return body
        message = scrub(message or f"HTTP {answer.status}", [self._key, self._user_key])
        if answer.status >= 400:
            reason = reason_from_status(answer.status)
        elif code in (401, 403, 404, 405, 429):
            reason = reason_from_status(code)
        else:
            reason = reason_from_text(message)
        raise PanelError(f"{self.what} refused {method} {path.split('?')[0]}: {message}",
                         reason=reason, status_code=answer.status, detail=message)

    def _list(self, body: Mapping[str, Any], what: str) -> list[Mapping[str, Any]]:
        data = body.get("data")
        if isinstance(data, Mapping):
            data = first_of(data, "list", "items", "data")
        if not isinstance(data, list):
            raise PanelError(f"{self.what} gave an unreadable list of {what}.",
                             reason=MALFORMED)
        return [item for item in data if isinstance(item, Mapping)]

    @staticmethod
    def _total(body: Mapping[str, Any]) -> int | None:
        data = body.get("data")
        return int_or_none(data.get("count")) if isinstance(data, Mapping) else None

    # --- orders -------------------------------------------------------------------------

    async def get_orders(self, ids: list[str]) -> dict[str, PanelOrder]:
        # Panel order ids are numbers; anything else cannot exist and costs no call.
        wanted = list(dict.fromkeys(str(i).strip() for i in ids if str(i).strip().isdigit()))
        found: dict[str, PanelOrder] = {}
        one_by_one: list[str] = []
        for start in range(0, len(wanted), IDS_PER_CALL):
            chunk = wanted[start:start + IDS_PER_CALL]
            if _ids_filter_works.get(self.root) is False:
                one_by_one.extend(chunk)
                continue
            honoured = await self._orders_by_filter(chunk, found)
            if not honoured:
                one_by_one.extend(i for i in chunk if i not in found)
        if one_by_one:
            orders = await asyncio.gather(*(self._order_by_id(i) for i in one_by_one))
            found.update({o.id: o for o in orders if o is not None})
        return found

    async def _orders_by_filter(self, chunk: list[str], found: dict[str, PanelOrder]) -> bool:
        """One GET /orders?ids=…; False when the panel ignored or refused the filter.

        The docs list an ids filter for GET /orders without saying how it is spelled or how
        many ids it takes. We send ``ids=1,2,3`` (the spelling used by public clients, like
        ``service_ids``) and check the answer: orders we did not ask for, or a total larger
        than what we asked for, mean the filter was ignored, and we fall back to
        GET /orders/{id} per id for the rest (remembered for this panel).
        """
        try:
            body = await self._send("GET", "/orders",
                                    params={"ids": ",".join(chunk), "limit": len(chunk)})
        except PanelError as exc:
            if exc.reason != BAD_REQUEST:
                raise
            _ids_filter_works[self.root] = False
            return False
        asked = set(chunk)
        orders = [o for o in (parse_order(raw, self._tz) for raw in self._list(body, "orders"))
                  if o is not None]
        total = self._total(body)
        honoured = all(o.id in asked for o in orders) and (total is None or total <= len(asked))
        found.update({o.id: o for o in orders if o.id in asked})
        _ids_filter_works[self.root] = honoured
        return honoured

    async def _order_by_id(self, order_id: str) -> PanelOrder | None:
        try:
            body = await self._send("GET", f"/orders/{order_id}")
        except PanelError as exc:
            if exc.reason == NOT_FOUND:
                return None
            raise
        data = body.get("data")
        if not isinstance(data, Mapping):
            return None
        order = parse_order(data, self._tz)
        return order if order is not None and order.id == order_id else None

    # --- users --------------------------------------------------------------------------

    async def get_user(self, username: str) -> PanelUser | None:
        username = username.strip()
        if not username:
            return None
        # A list endpoint answers an empty list for an unknown user, so any error is real.
        body = await self._send("GET", "/users", params={"username": username, "limit": 100})
        # Exact match only: a filter that searches substrings must not link 'john' to 'john1'.
        for raw in self._list(body, "users"):
            name = text_or_none(first_of(raw, "username", "login", "user"))
            if name and name.lower() == username.lower():
                balance = raw.get("balance")
                return PanelUser(
                    username=name,
                    balance=decimal_or_none(balance),
                    currency=currency_of(balance) or text_or_none(
                        first_of(raw, "currency", "currency_code")),
                    raw=dict(raw),
                )
        return None

    # --- services -----------------------------------------------------------------------

    async def list_services(self) -> list[PanelService]:
        if self.user_api is None:
            raise PanelError(
                "No user API key is configured for this panel: the service list comes from "
                "the panel's user API (api/v2, action services).", reason=NOT_CONFIGURED)
        return await self.user_api.services()

    # --- tickets ------------------------------------------------------------------------

    async def list_tickets(
        self, status: str | None = None, since_id: str | None = None, limit: int = 50
    ) -> list[PanelTicket]:
        # The docs do not say how GET /tickets is sorted or whether it can start after an id,
        # so we filter and sort here. Panels list newest first: after ``since_id`` we page on
        # (offset) until a page reaches tickets we have seen, so a burst of more than one page
        # of new tickets between two runs is not skipped.
        found: dict[str, PanelTicket] = {}
        offset = 0
        for _ in range(MAX_TICKET_PAGES):
            params: dict[str, Any] = {"limit": limit, "offset": offset}
            if status:
                params["status"] = status
            body = await self._send("GET", "/tickets", params=params)
            raw = self._list(body, "tickets")
            page = [t for t in (parse_ticket(item, self._tz) for item in raw) if t is not None]
            for ticket in page:
                if newer_than(ticket.id, since_id):
                    found.setdefault(ticket.id, ticket)
            pagination = body.get("pagination")
            more = isinstance(pagination, Mapping) and bool(pagination.get("next_page_href"))
            if (since_id is None or len(raw) < limit or not more
                    or any(not newer_than(t.id, since_id) for t in page)):
                break
            offset += limit
        tickets = list(found.values())
        if status:
            tickets = [t for t in tickets if (t.status or "").lower() == status.lower()]
        return sorted(tickets, key=lambda t: id_sort_key(t.id))

    async def get_ticket(self, ticket_id: str) -> PanelTicket | None:
        try:
            body = await self._send("GET", f"/tickets/{ticket_id}")
        except PanelError as exc:
            if exc.reason == NOT_FOUND:
                return None
            raise
        data = body.get("data")
        return parse_ticket(data, self._tz) if isinstance(data, Mapping) else None

    async def reply_ticket(self, ticket_id: str, message: str) -> None:
        # The docs name the fields of the POST calls but not their encoding; JSON is what
        # public v2 clients send.
        await self._send("POST", f"/tickets/{ticket_id}/reply", json={"message": message})

    async def create_ticket(self, username: str, subject: str, message: str) -> str:
        body = await self._send("POST", "/tickets/add",
                                json={"username": username, "subject": subject,
                                      "message": message})
        data = body.get("data")
        ticket_id = id_or_none(first_of(data, "id", "ticket_id") if isinstance(data, Mapping)
                               else data)
        # The panel accepted the ticket; without an id in the answer we still must not report
        # a failure, or the caller would open it a second time. "" = created, id unknown.
        return ticket_id or ""

    # --- connection test ----------------------------------------------------------------

    async def test_connection(self) -> ConnectionReport:
        report = ConnectionReport()
        try:
            body = await self._send("GET", "/orders", params={"limit": 1})
            sample = self._list(body, "orders")
        except PanelError as exc:
            report.fail(PART_ORDERS, explain(exc, "read orders"))
            if exc.reason == AUTH or exc.transient:
                # Nothing else can work with this key or this answer: say it once per part.
                for part in (PART_EXTERNAL_ID, PART_USERS, PART_TICKETS):
                    report.fail(part, report.problems[PART_ORDERS])
                await self._check_services(report)
                return report.finish()
        else:
            report.succeed(PART_ORDERS)
            if not sample:
                report.skip(PART_EXTERNAL_ID, "The panel has no orders yet, so external id "
                                              "visibility could not be checked.")
            elif "external_id" in sample[0]:
                report.succeed(PART_EXTERNAL_ID)
            else:
                report.fail(PART_EXTERNAL_ID, EXTERNAL_ID_HIDDEN_NOTE)
        for part, path, what in ((PART_USERS, "/users", "read users"),
                                 (PART_TICKETS, "/tickets", "read tickets")):
            try:
                self._list(await self._send("GET", path, params={"limit": 1}), part)
            except PanelError as exc:
                report.fail(part, explain(exc, what))
            else:
                report.succeed(part)
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

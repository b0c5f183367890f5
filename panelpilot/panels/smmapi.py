"""Client of the standard SMM user/provider API v2 (``POST …/api/v2`` with ``key`` and ``action``).

Panels offer it to their customers, providers to panels. panelpilot uses it for a panel's
service catalogue (``services``) and for provider-side actions (``status``, ``refill``,
``cancel``, ``balance``, ``add``). Every panel script answers it slightly differently; the
parsing below accepts the spellings seen in public documentation of Perfect Panel-style panels.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from panelpilot.panels.base import (
    AUTH,
    MALFORMED,
    NOT_FOUND,
    Money,
    PanelError,
    PanelService,
    bool_or_none,
    clean_name,
    decimal_or_none,
    first_of,
    host_of,
    id_or_none,
    int_or_none,
    money_or_none,
    normalize_status,
    reason_from_status,
    reason_from_text,
    request_json,
    scrub,
    text_or_none,
)
from panelpilot.panels.ratelimit import TokenBucket

MAX_IDS_PER_CALL = 100  # the multi-order form of status/refill/cancel takes up to 100 ids


@dataclass
class ProviderOrderStatus:
    order_id: str
    status: str  # normalized
    raw_status: str | None
    charge: Money | None = None
    start_count: int | None = None
    remains: int | None = None
    error: str | None = None  # e.g. "Incorrect order ID": the order is not known there
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def found(self) -> bool:
        return self.error is None


@dataclass
class ActionResult:
    """Answer to a refill or cancel request for one order."""

    order_id: str
    ok: bool
    request_id: str | None = None  # the refill/cancel id the API gave back
    error: str | None = None


def parse_service(raw: Mapping[str, Any]) -> PanelService | None:
    service_id = id_or_none(first_of(raw, "service", "id", "service_id"))
    name = clean_name(first_of(raw, "name", "service_name", "title"))
    if service_id is None or not name:
        return None
    return PanelService(
        id=service_id,
        name=name,
        category=clean_name(raw.get("category")) or None,
        type=text_or_none(raw.get("type")),
        rate=decimal_or_none(first_of(raw, "rate", "price")),
        min=int_or_none(raw.get("min")),
        max=int_or_none(raw.get("max")),
        refill=bool_or_none(raw.get("refill")),
        cancel=bool_or_none(raw.get("cancel")),
        raw=dict(raw),
    )


def _chunks(ids: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(ids), size):
        yield ids[start:start + size]


def _unique(ids: Iterable[object]) -> list[str]:
    seen: dict[str, None] = {}
    for value in ids:
        text = str(value).strip()
        if text:
            seen.setdefault(text, None)
    return list(seen)


def _error_text(value: object) -> str | None:
    if isinstance(value, Mapping) and value.get("error"):
        return str(value["error"])
    return None


class SmmApiClient:
    """One API v2 endpoint with one key (a panel's user API or a provider's API)."""

    def __init__(
        self, base_url: str, key: str, http: httpx.AsyncClient, *,
        bucket: TokenBucket | None = None, timeout: float | None = 20.0, name: str = "SMM API",
    ) -> None:
        self.url = base_url.strip().rstrip("/")
        self._key = key
        self._http = http
        self._bucket = bucket
        self._timeout = timeout
        self.what = f"The {name} at {host_of(self.url)}"

    async def _call(self, action: str, **params: object) -> Any:
        data = {"key": self._key, "action": action}
        data.update({k: str(v) for k, v in params.items() if v is not None})
        answer = await request_json(
            self._http, "POST", self.url, what=self.what, secrets=[self._key],
            bucket=self._bucket, time_limit=self._timeout, data=data,
        )
        error = _error_text(answer.body)
        if error is not None or answer.status >= 400:
            message = scrub(error or f"HTTP {answer.status}", [self._key])
            reason = reason_from_text(message, reason_from_status(answer.status))
            raise PanelError(
                f"{self.what} refused '{action}': {message}", reason=reason,
                status_code=answer.status, detail=message,
            )
        return answer.body

    def _malformed(self, action: str) -> PanelError:
        return PanelError(f"{self.what} gave an unreadable answer to '{action}'.",
                          reason=MALFORMED)

    async def services(self) -> list[PanelService]:
        body = await self._call("services")
        if isinstance(body, Mapping):
            # Some scripts key the list by service id or wrap it in "data"/"services".
            inner = first_of(body, "data", "services")
            body = inner if inner is not None else list(body.values())
        if not isinstance(body, list):
            raise self._malformed("services")
        services = [parse_service(item) for item in body if isinstance(item, Mapping)]
        return [service for service in services if service is not None]

    async def balance(self) -> Money:
        body = await self._call("balance")
        money = money_or_none(body.get("balance"), body.get("currency")) if isinstance(
            body, Mapping) else None
        if money is None:
            raise self._malformed("balance")
        return money

    async def add(
        self, service: str | int, link: str, quantity: int | None = None, **extra: object
    ) -> str:
        """Place an order; ``extra`` carries runs, interval, comments, username… as documented."""
        body = await self._call("add", service=service, link=link, quantity=quantity, **extra)
        order_id = id_or_none(body.get("order")) if isinstance(body, Mapping) else None
        if order_id is None:
            raise self._malformed("add")
        return order_id

    async def status(self, ids: Iterable[object]) -> dict[str, ProviderOrderStatus]:
        """Status of each order; unknown orders come back with ``error`` set."""
        result: dict[str, ProviderOrderStatus] = {}
        for chunk in _chunks(_unique(ids), MAX_IDS_PER_CALL):
            if len(chunk) == 1:
                try:
                    body = await self._call("status", order=chunk[0])
                except PanelError as exc:
                    if exc.reason != NOT_FOUND:
                        raise
                    body = {"error": exc.detail or "not found"}
                answers: Mapping[str, Any] = {chunk[0]: body}
            else:
                body = await self._call("status", orders=",".join(chunk))
                if not isinstance(body, Mapping):
                    raise self._malformed("status")
                answers = {str(k): v for k, v in body.items()}
            for order_id in chunk:
                item = answers.get(order_id)
                if not isinstance(item, Mapping):
                    result[order_id] = ProviderOrderStatus(
                        order_id, "unknown", None, error="missing from the answer")
                    continue
                raw_status = text_or_none(item.get("status"))
                result[order_id] = ProviderOrderStatus(
                    order_id=order_id,
                    status=normalize_status(raw_status),
                    raw_status=raw_status,
                    charge=money_or_none(item.get("charge"), item.get("currency")),
                    start_count=int_or_none(item.get("start_count")),
                    remains=int_or_none(item.get("remains")),
                    error=_error_text(item),
                    raw=dict(item),
                )
        return result

    async def refill(self, ids: Iterable[object]) -> dict[str, ActionResult]:
        return await self._act("refill", ids)

    async def cancel(self, ids: Iterable[object]) -> dict[str, ActionResult]:
        return await self._act("cancel", ids)

    async def _act(self, action: str, ids: Iterable[object]) -> dict[str, ActionResult]:
        result: dict[str, ActionResult] = {}
        for chunk in _chunks(_unique(ids), MAX_IDS_PER_CALL):
            if len(chunk) == 1 and action == "refill":
                # The single form (order=) is the one every script documents for refill.
                try:
                    body = await self._call(action, order=chunk[0])
                except PanelError as exc:
                    if exc.reason == AUTH or exc.transient:
                        raise
                    result[chunk[0]] = ActionResult(chunk[0], False,
                                                    error=exc.detail or exc.message)
                    continue
                body = [{"order": chunk[0], action: first_of(body, action, "id")}] if isinstance(
                    body, Mapping) else body
            else:
                body = await self._call(action, orders=",".join(chunk))
            result.update(self._read_action(action, chunk, body))
        return result

    def _read_action(self, action: str, chunk: list[str], body: Any) -> dict[str, ActionResult]:
        # Documented: [{"order": 1, "refill": 1}, {"order": 2, "refill": {"error": "..."}}];
        # some scripts answer {"1": {...}} instead.
        items: list[tuple[str, Any]] = []
        if isinstance(body, list):
            for entry in body:
                if isinstance(entry, Mapping) and entry.get("order") is not None:
                    items.append((str(entry["order"]), entry.get(action, entry)))
        elif isinstance(body, Mapping):
            items = [(str(k), v.get(action, v) if isinstance(v, Mapping) else v)
                     for k, v in body.items()]
        else:
            raise self._malformed(action)
        answered = dict(items)
        out: dict[str, ActionResult] = {}
        for order_id in chunk:
            value = answered.get(order_id)
            error = _error_text(value)
            if value is None:
                out[order_id] = ActionResult(order_id, False, error="missing from the answer")
            elif error is not None:
                out[order_id] = ActionResult(order_id, False, error=error)
            else:
                out[order_id] = ActionResult(order_id, True, request_id=id_or_none(value)
                                             if not isinstance(value, Mapping) else None)
        return out

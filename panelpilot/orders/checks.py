"""Whether one order may get one action: status, remains, start window, refill policy and window.

Pure functions: the caller brings the order, the service's rules and the clock. A refusal
carries a reason for the customer (a template key and its values) and a detail for admins that
says how to change the outcome when it is wrong (usually: a service rule).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from panelpilot.orders.rules import OrderRules
from panelpilot.orders.service_rules import (
    Keywords,
    RefillPolicy,
    StartWindow,
    describe_refill,
    describe_window,
    parse_service_name,
)
from panelpilot.panels.base import PanelOrder

ACTIVE = frozenset({"pending", "in progress", "processing"})
NO_CANCEL = frozenset({"completed", "canceled", "partial", "refunded", "refund"})


@dataclass(frozen=True)
class ServiceRule:
    """What decides an order's start window and refill policy, and where it came from."""

    service_id: str | None
    name: str | None
    start: StartWindow | None
    refill: RefillPolicy
    start_from: str  # override | name | default | none
    refill_from: str  # override | name
    evidence: tuple[str, ...] = ()

    def describe(self) -> str:
        return (f"start {describe_window(self.start)} ({self.start_from}), "
                f"refill {describe_refill(self.refill)} ({self.refill_from})")


@dataclass(frozen=True)
class Override:
    start: StartWindow | None = None
    refill: RefillPolicy | None = None


def resolve_service(
    service_id: str | None, name: str | None, override: Override | None,
    keywords: Keywords | None, default_start: StartWindow | None,
) -> ServiceRule:
    """The service's rules: an admin's override wins, then the name, then the default start."""
    parsed = parse_service_name(name or "", extra_keywords=keywords) if name else None
    start, start_from = (parsed.start, "name") if parsed and parsed.start else (None, "none")
    if start is None and default_start is not None:
        start, start_from = default_start, "default"
    refill = parsed.refill if parsed else RefillPolicy.unknown()
    refill_from = "name"
    if override is not None:
        if override.start is not None:
            start, start_from = override.start, "override"
        if override.refill is not None:
            refill, refill_from = override.refill, "override"
    return ServiceRule(service_id, name, start, refill, start_from, refill_from,
                       parsed.evidence if parsed else ())


@dataclass
class Check:
    """``ok``, or a refusal: ``not_eligible`` (with a reason) or ``too_early`` (with a time)."""

    verdict: str
    reason: str | None = None  # template key of the reason
    values: dict[str, Any] = field(default_factory=dict)
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"


def human(td: timedelta) -> str:
    """``35 min``, ``2 h 5 min``, ``1 day 3 h``: short, rounded up to the minute."""
    minutes = max(1, int((td.total_seconds() + 59) // 60))
    days, rest = divmod(minutes, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} day{'s' if days > 1 else ''}" + (f" {hours} h" if hours else "")
    if hours:
        return f"{hours} h" + (f" {mins} min" if mins else "")
    return f"{mins} min"


def _service(rule: ServiceRule) -> str:
    name = f" {rule.name!r}" if rule.name else ""
    return f"service #{rule.service_id or '?'}{name}"


def check(order: PanelOrder, action: str, rule: ServiceRule, rules: OrderRules,
          now: datetime) -> Check:
    if action == "speed":
        return _speed(order, rule, now)
    if action == "cancel":
        return _cancel(order)
    if action == "refill":
        return _refill(order, rule, rules, now)
    return Check("ok")


def _speed(order: PanelOrder, rule: ServiceRule, now: datetime) -> Check:
    if order.status not in ACTIVE:
        return Check("not_eligible", "reason_status", {"status": order.status},
                     f"speed-ups are for pending, in progress or processing orders; this one "
                     f"is {order.status}")
    if order.remains is not None and order.remains <= 0:
        return Check("not_eligible", "reason_no_remains", {},
                     "remains is 0: nothing left to speed up")
    if rule.start is None:
        return Check("not_eligible", "reason_start_unknown", {},
                     f"{_service(rule)} states no start time: add a service rule with its "
                     "start window (or rules.default_start) to allow speed-ups")
    if order.created is None:
        return Check("ok", detail="the panel sent no creation time; start window not checked")
    ready = order.created + rule.start.max
    if now < ready:
        left = ready - now
        return Check("too_early", None,
                     {"when": f"in {human(left)}", "time_left": human(left),
                      "at": ready.strftime("%Y-%m-%d %H:%M UTC")},
                     f"start window {describe_window(rule.start)} ({rule.start_from}) ends "
                     f"{ready:%Y-%m-%d %H:%M} UTC")
    return Check("ok")


def _cancel(order: PanelOrder) -> Check:
    if order.status in NO_CANCEL or order.status == "unknown":
        return Check("not_eligible", "reason_status", {"status": order.status},
                     f"orders that are {order.status} can not be canceled")
    return Check("ok")


def _refill(order: PanelOrder, rule: ServiceRule, rules: OrderRules, now: datetime) -> Check:
    allowed = {"completed", "partial"} if rules.partial_refill else {"completed"}
    if order.status not in allowed:
        if order.status in ACTIVE:
            return Check("not_eligible", "reason_not_completed", {},
                         f"refills are for completed orders; this one is {order.status}")
        return Check("not_eligible", "reason_status", {"status": order.status},
                     f"refills are for {' or '.join(sorted(allowed))} orders; this one is "
                     f"{order.status}" + (" (rules.partial_refill allows partial ones)"
                                          if order.status == "partial" else ""))
    policy = rule.refill
    if policy.kind == "none":
        return Check("not_eligible", "reason_no_refill", {},
                     f"{_service(rule)} has no refill ({rule.refill_from})")
    if policy.kind == "unknown":
        return Check("not_eligible", "reason_refill_unknown", {},
                     f"the refill policy of {_service(rule)} is unknown: add a service rule "
                     "(refill: days, lifetime or none) or a refill keyword")
    if policy.kind == "lifetime":
        return Check("ok", detail=f"lifetime refill ({rule.refill_from})")
    days = policy.days or 0
    completed = order.last_update if order.status != "pending" else None
    base: datetime | None = order.created
    base_name = "creation"
    if rules.refill_window_from == "completion" and completed is not None:
        base, base_name = completed, "completion (last update)"
    if base is None:
        return Check("ok", detail="the panel sent no dates; refill window not checked")
    end = base + timedelta(days=days)
    if now > end:
        return Check("not_eligible", "reason_refill_expired",
                     {"days": days, "date": end.strftime("%Y-%m-%d")},
                     f"{days}-day refill window from {base_name} {base:%Y-%m-%d} ended "
                     f"{end:%Y-%m-%d}")
    return Check("ok", detail=f"{days}-day refill window open until {end:%Y-%m-%d}")

"""Order rules and cooldowns: every field of ``orders.rules.OrderRules`` as one form (cooldown per
action, ids per message, strict mode, refill window, partial refills, default start window, the
workspace's own service-name keywords, and the panel-ticket rules).

The form becomes the same rules document that ``PUT .../orders/settings`` takes, and is saved by
``orders.admin.set_settings``; ``orders.admin.rule_errors`` (the same model) puts each problem
beside its field.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import Request
from starlette.responses import Response

from panelpilot.console.access import WorkspacePage, open_workspace, sentence
from panelpilot.console.nav import NavItem, add_workspace_page
from panelpilot.console.routing import console_router, redirect, render
from panelpilot.errors import DomainError
from panelpilot.orders import admin
from panelpilot.orders.checks import human
from panelpilot.orders.rules import ACTIONS, OrderRules

router = console_router()
add_workspace_page(NavItem("order_rules", "Order rules", "/order-rules", section="Setup",
                           order=47))

KEYWORDS = {
    "refill": "Words that mean the service is refilled",
    "no_refill": "Words that mean no refill",
    "lifetime": "Words that mean a lifetime refill",
    "start": "Words that introduce a start time",
    "instant": "Words that mean an instant start",
}
KEYWORD_EXAMPLES = {"refill": "garantili, гарантия", "no_refill": "sin reposición",
                    "lifetime": "ömür boyu", "start": "mulai", "instant": "anında"}
WINDOW_OPTIONS = {"completion": "When the order was completed",
                  "creation": "When the order was created"}


def _words(raw: str) -> list[str]:
    """Comma- or line-separated words, as typed."""
    return [w.strip() for line in raw.splitlines() for w in line.split(",") if w.strip()]


def _form_values(rules: OrderRules) -> dict[str, str]:
    values = {"max_ids": str(rules.max_ids), "strict": "1" if rules.strict else "",
              "refill_window_from": rules.refill_window_from,
              "partial_refill": "1" if rules.partial_refill else "",
              "default_start": rules.default_start or "",
              "tickets_enabled": "1" if rules.tickets.enabled else "",
              "tickets_subjects": ", ".join(rules.tickets.subjects),
              "tickets_lookback_hours": str(rules.tickets.lookback_hours)}
    for action in ACTIONS:
        values[f"cooldown_{action}"] = str(rules.cooldown_minutes.get(action, 0))
        values[f"tickets_{action}"] = ", ".join(rules.tickets.requests.get(action, []))
    for kind in KEYWORDS:
        values[f"kw_{kind}"] = ", ".join(getattr(rules.keywords, kind))
    return values


def _posted(page: WorkspacePage) -> dict[str, str]:
    names = ["max_ids", "refill_window_from", "default_start", "tickets_subjects",
             "tickets_lookback_hours"] + [f"cooldown_{a}" for a in ACTIONS] \
        + [f"tickets_{a}" for a in ACTIONS] + [f"kw_{k}" for k in KEYWORDS]
    values = {name: page.value(name) for name in names}
    for box in ("strict", "partial_refill", "tickets_enabled"):
        values[box] = "1" if page.value(box) else ""
    return values


def _document(values: dict[str, str]) -> dict[str, Any]:
    """The rules document of ``PUT .../orders/settings``; numbers stay as typed, so that the
    model says what is wrong with them."""
    return {
        "max_ids": values["max_ids"],
        "strict": bool(values["strict"]),
        "cooldown_minutes": {a: values[f"cooldown_{a}"] for a in ACTIONS},
        "refill_window_from": values["refill_window_from"],
        "partial_refill": bool(values["partial_refill"]),
        "default_start": values["default_start"] or None,
        "keywords": {k: _words(values[f"kw_{k}"]) for k in KEYWORDS},
        "tickets": {"enabled": bool(values["tickets_enabled"]),
                    "subjects": _words(values["tickets_subjects"]),
                    "requests": {a: _words(values[f"tickets_{a}"]) for a in ACTIONS},
                    "lookback_hours": values["tickets_lookback_hours"]},
    }


def _field(where: str, message: str) -> str:
    """The form field a rules error belongs to (``cooldown_minutes.speed`` → cooldown_speed)."""
    parts = where.split(".")
    if parts[0] == "cooldown_minutes":
        action = parts[1] if len(parts) > 1 else next(
            (a for a in ACTIONS if f"for {a}" in message), "")
        return f"cooldown_{action}" if action in ACTIONS else "form"
    if parts[0] == "keywords" and len(parts) > 1:
        return f"kw_{parts[1]}"
    if parts[0] == "tickets" and len(parts) > 1:
        if parts[1] == "requests" and len(parts) > 2 and parts[2] in ACTIONS:
            return f"tickets_{parts[2]}"
        return f"tickets_{parts[1]}"
    return parts[0] if parts[0] in ("max_ids", "default_start", "refill_window_from") \
        else "form"


def _durations(values: dict[str, str]) -> dict[str, str]:
    out = {}
    for action in ACTIONS:
        raw = values.get(f"cooldown_{action}", "")
        if raw.isdigit():
            minutes = int(raw)
            out[action] = "no cooldown" if minutes == 0 else human(timedelta(minutes=minutes))
    return out


async def _page(request: Request, page: WorkspacePage, values: dict[str, str], *,
                errors: dict[str, str] | None = None, status: int = 200) -> Response:
    return await render(request, "ws/order_settings.html", status=status, page=page,
                        active="order_rules", title="Order rules", values=values,
                        errors=errors or {}, actions=ACTIONS, keywords=KEYWORDS,
                        keyword_examples=KEYWORD_EXAMPLES, window_options=WINDOW_OPTIONS,
                        durations=_durations(values), defaults=_form_values(OrderRules()))


@router.get("/w/{slug}/order-rules")
async def order_rules(request: Request, slug: str) -> Response:
    page = await open_workspace(request, slug)
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        rules, _ = await admin.get_settings(session)
    return await _page(request, page, _form_values(rules))


@router.post("/w/{slug}/order-rules")
async def save_rules(request: Request, slug: str) -> Response:
    page = await open_workspace(request, slug)
    values = _posted(page)
    document = _document(values)
    errors: dict[str, str] = {}
    for where, message in admin.rule_errors(document).items():
        errors.setdefault(_field(where, message), sentence(message))
    if not errors:
        try:
            async with page.console.ctx.db.session(page.ws.id) as session:
                await admin.set_settings(session, page.ws.id, rules=document)
        except DomainError as exc:
            errors["form"] = sentence(exc.message)
    if errors:
        if "form" not in errors:
            errors["form"] = "Nothing was saved: correct the fields marked below."
        return await _page(request, page, values, errors=errors, status=422)
    page.flash("success", "Order rules saved: they apply to the next message.")
    return redirect(f"{page.base}/order-rules")


@router.post("/w/{slug}/order-rules/reset")
async def reset_rules(request: Request, slug: str) -> Response:
    page = await open_workspace(request, slug)
    async with page.console.ctx.db.session(page.ws.id) as session:
        await admin.set_settings(session, page.ws.id, rules={})
    page.flash("success", "Order rules are back to the defaults.")
    return redirect(f"{page.base}/order-rules")

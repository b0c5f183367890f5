"""Analytics (owners and agents): linked users, activity today and this month, failure rate,
response times, commands per action and per day, dispatches per provider, cooldown hits, the
failed-commands table and suspicious chats, over the last 7, 30 or 90 days.

The figures come from ``panelpilot.orders.analytics`` (the same code as
``GET /api/v1/workspaces/{slug}/orders/analytics``); the charts are inline SVG drawn by
``panelpilot.console.charts``. The page only reads, so it has no forms an agent could not use.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import select
from starlette.responses import Response

from panelpilot.console.access import WorkspacePage, open_workspace
from panelpilot.console.charts import Bar, DayBar, bar_chart, daily_chart
from panelpilot.console.listing import url_with
from panelpilot.console.nav import NavItem, add_workspace_page
from panelpilot.console.routing import console_router, render
from panelpilot.orders import analytics, logs
from panelpilot.orders.models import CommandLog

router = console_router()
add_workspace_page(NavItem("analytics", "Analytics", "/analytics", section="Insights", order=10))

PERIOD_OPTIONS = {str(d): f"Last {d} days" for d in analytics.PERIODS}
ERROR_OPTIONS = {"": "Every error type", **logs.ERROR_TYPES}
FAILED_SHORT, FAILED_LONG = analytics.FAILED_LIMIT, 200
# What each alert kind shows in the command log (filters of the command log page).
ALERT_FILTERS = {"not_yours": {"verdict": "not_yours"}, "cooldown": {"verdict": "cooldown"},
                 "unrecognized": {"error_type": logs.ANY_ERROR}}
ACTION_LABELS = {"unrecognized": "not understood", "too_many": "too many ids",
                 "code": "link code"}


def _ms(value: float | int | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def _charts(fig: analytics.Figures) -> dict[str, Any]:
    period = f"the last {fig.days} days"
    actions = [Bar(ACTION_LABELS.get(c.label, c.label), c.count,
                   tone="bad" if c.label == "unrecognized" else "") for c in fig.actions]
    providers = [Bar(p.label, p.dispatches, note=f"{p.failed} undelivered" if p.failed else "",
                     tone="quiet" if p.fallback else "") for p in fig.providers]
    verdicts = [Bar(logs.VERDICTS.get(v.label, v.label), v.count,
                    tone="" if v.label in logs.ALLOWED else "bad") for v in fig.verdicts]
    return {
        "daily_chart": daily_chart(
            [DayBar(d.day, d.commands, d.failed) for d in fig.daily],
            title=f"Commands per day over {period}, failed part in red",
            empty=f"No commands in {period}."),
        "actions_chart": bar_chart(actions, title=f"Commands by action over {period}",
                                   unit="commands", empty=f"No commands in {period}."),
        "providers_chart": bar_chart(providers, title=f"Dispatches per provider over {period}",
                                     unit="dispatches",
                                     empty=f"Nothing was sent to a provider in {period}."),
        "verdicts_chart": bar_chart(verdicts, title=f"Verdicts per order over {period}",
                                    unit="orders", empty=f"No order was checked in {period}."),
    }


def _alert_links(page: WorkspacePage, alert: analytics.Alert) -> dict[str, str]:
    chats = url_with(f"{page.base}/chats", {"q": alert.chat_id, "channel": alert.channel_key})
    commands = url_with(f"{page.base}/commands", {
        "chat_id": alert.chat_id, "since": alert.first_seen.strftime("%Y-%m-%dT%H:%M"),
        **ALERT_FILTERS.get(alert.kind, {})})
    return {"chat": chats, "commands": commands}


@router.get("/w/{slug}/analytics")
async def analytics_page(request: Request, slug: str, days: str = "", error_type: str = "",
                         failed: str = "") -> Response:
    page = await open_workspace(request, slug)
    errors: dict[str, str] = {}
    chosen = days.strip() or str(analytics.DEFAULT_DAYS)
    if chosen not in PERIOD_OPTIONS:
        errors["days"] = "Choose a period from the list."
        chosen = str(analytics.DEFAULT_DAYS)
    if error_type and error_type not in ERROR_OPTIONS:
        errors["error_type"] = "Choose an error type from the list."
        error_type = ""
    show_all = failed == "all"
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        fig = await analytics.figures(session, int(chosen), failed_error_type=error_type or None,
                                      failed_limit=FAILED_LONG if show_all else FAILED_SHORT)
        error_counts = await analytics.failed_error_types(session, fig.since, fig.until)
        anything = fig.commands > 0 or (await session.execute(
            select(CommandLog.id).limit(1))).first() is not None
    base = f"{page.base}/analytics"
    state = {"days": chosen if chosen != str(analytics.DEFAULT_DAYS) else "",
             "error_type": error_type}
    return await render(
        request, "ws/analytics.html", page=page, active="analytics", title="Analytics",
        fig=fig, anything=anything, errors=errors, values={"days": chosen,
                                                           "error_type": error_type},
        period_options=PERIOD_OPTIONS, error_options=ERROR_OPTIONS, error_counts=error_counts,
        error_labels=logs.ERROR_TYPES, ms=_ms, alert_links=lambda a: _alert_links(page, a),
        period_url=lambda d: url_with(base, {**state, "days": d}),
        failed_url=lambda **extra: url_with(base, {**state, **extra}) + "#failed",
        show_all=show_all, failed_short=FAILED_SHORT, rules=analytics.ALERT_RULES,
        **_charts(fig))

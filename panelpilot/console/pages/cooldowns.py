"""Cooldowns: which order and action is waiting, for whom, until when, and how many requests it
held back; owners can clear one so that the customer may ask again at once.

Filters (``state``, ``order_id``, ``action``, ``who``, ``since``, ``until``) and paging
(``before``) run in ``orders.logs``, as ``GET /api/v1/workspaces/{slug}/orders/cooldowns``;
"Clear" calls ``orders.logs.clear_cooldown``, the code behind ``DELETE .../cooldowns/{id}``.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from panelpilot.console.access import not_found, open_workspace
from panelpilot.console.listing import PAGE_SIZE, Paging, back_to, channel_refs, id_filter, url_with
from panelpilot.console.nav import NavItem, add_workspace_page
from panelpilot.console.pages.commandlog import Filters, shared
from panelpilot.console.routing import console_router, redirect, render
from panelpilot.db.base import utcnow
from panelpilot.errors import NotFound
from panelpilot.orders import logs

router = console_router()
add_workspace_page(NavItem("cooldowns", "Cooldowns", "/cooldowns", section="Logs", order=70))

STATE_OPTIONS = {"": "Active and past", "active": "Active", "past": "Ended"}
ACTION_OPTIONS = {"": "Any action", **{a: a for a in ("refill", "speed", "cancel")}}


@router.get("/w/{slug}/cooldowns")
async def cooldown_list(request: Request, slug: str, state: str = "", order_id: str = "",
                        action: str = "", who: str = "", since: str = "", until: str = "",
                        before: str = "") -> Response:
    page = await open_workspace(request, slug)
    form = Filters()
    start, end = form.times(since, until)
    chosen = form.choice("state", state, STATE_OPTIONS, "a state")
    filters = logs.CooldownFilters(
        order_id=form.text("order_id", order_id, 64),
        action=form.choice("action", action, ACTION_OPTIONS, "an action"),
        active={"active": True, "past": False}.get(chosen or ""),
        who=form.text("who", who, 128), since=start, until=end)
    older_than = id_filter(before)
    now = utcnow()
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        rows = await logs.cooldowns(session, filters, limit=PAGE_SIZE + 1, before=older_than,
                                    now=now)
        anything = bool(rows) or bool(await logs.cooldowns(session, logs.CooldownFilters(),
                                                           limit=1))
        active = await logs.active_cooldowns(session, now)
        refs = await channel_refs(session)
        titles = await logs.chat_titles(session, {(r.channel_id, r.chat_id) for r in rows})
    base = f"{page.base}/cooldowns"
    return await render(
        request, "ws/cooldowns.html", page=page, active="cooldowns", title="Cooldowns",
        paging=Paging.of(rows, base, form.clean, older_than), channels=refs, titles=titles,
        state_options=STATE_OPTIONS, action_options=ACTION_OPTIONS, anything=anything,
        active_count=active, now=now, clear_url=base,
        active_url=url_with(base, {"state": "active"}),
        here=url_with(base, {**form.clean, "before": older_than}), **form.values(),
        **shared(page))


@router.post("/w/{slug}/cooldowns/{cooldown_id}/clear")
async def clear(request: Request, slug: str, cooldown_id: int) -> Response:
    page = await open_workspace(request, slug)
    back = back_to(page, page.value("back"), f"{page.base}/cooldowns")
    async with page.console.ctx.db.session(page.ws.id) as session:
        try:
            row = await logs.clear_cooldown(session, cooldown_id)
        except NotFound:
            raise not_found() from None
        order_id, action = row.order_id, row.action
    page.flash("success", f"The {action} cooldown of order {order_id} is cleared: the customer "
                          "can ask again now.")
    return redirect(back)

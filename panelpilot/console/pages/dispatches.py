"""The dispatch log: every command sent to a provider group (which provider, which group, the
text, the orders in it) with its delivery status from the outbox, and a detail view with each
delivery attempt.

Filters (``since``, ``until``, ``provider``, ``order_id``, ``status``, ``action``) and paging
(``before``) run in ``orders.logs``, as ``GET /api/v1/workspaces/{slug}/orders/dispatches``.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from panelpilot.console.access import not_found, open_workspace
from panelpilot.console.listing import PAGE_SIZE, Paging, channel_refs, id_filter
from panelpilot.console.nav import NavItem, add_workspace_page
from panelpilot.console.pages.commandlog import Filters, shared
from panelpilot.console.pages.outbox import REASON_TEXT
from panelpilot.console.routing import console_router, render
from panelpilot.errors import NotFound
from panelpilot.orders import logs
from panelpilot.orders.models import CommandLog

router = console_router()
add_workspace_page(NavItem("dispatches", "Dispatches", "/dispatches", section="Logs",
                           order=67))

STATUS_OPTIONS = {"": "Any delivery status", "sent": "Sent", "failed": "Failed",
                  "queued": "Queued", "sending": "Sending"}
DISPATCH_ACTIONS = {"": "Any action", **{a: a for a in ("refill", "speed", "cancel")}}


@router.get("/w/{slug}/dispatches")
async def dispatch_log(request: Request, slug: str, since: str = "", until: str = "",
                       provider: str = "", order_id: str = "", status: str = "",
                       action: str = "", before: str = "") -> Response:
    page = await open_workspace(request, slug)
    form = Filters()
    start, end = form.times(since, until)
    filters = logs.DispatchFilters(
        since=start, until=end, provider=form.text("provider", provider, 200),
        order_id=form.text("order_id", order_id, 64),
        status=form.choice("status", status, STATUS_OPTIONS, "a delivery status"),
        action=form.choice("action", action, DISPATCH_ACTIONS, "an action"))
    older_than = id_filter(before)
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        rows = await logs.dispatches(session, filters, limit=PAGE_SIZE + 1, before=older_than)
        anything = bool(rows) or bool(await logs.dispatches(session, logs.DispatchFilters(),
                                                            limit=1))
        refs = await channel_refs(session)
        titles = await logs.chat_titles(session, {(r.dispatch.channel_id, r.dispatch.chat_id)
                                                  for r in rows})
        providers = await logs.providers_seen(session)
    base = f"{page.base}/dispatches"
    return await render(
        request, "ws/dispatches.html", page=page, active="dispatches", title="Dispatch log",
        paging=Paging.of(rows, base, form.clean, older_than), channels=refs, titles=titles,
        status_options=STATUS_OPTIONS, action_options=DISPATCH_ACTIONS, providers=providers,
        anything=anything, clear_url=base, **form.values(), **shared(page))


@router.get("/w/{slug}/dispatches/{dispatch_id}")
async def dispatch_detail(request: Request, slug: str, dispatch_id: int) -> Response:
    page = await open_workspace(request, slug)
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        try:
            entry = await logs.dispatch(session, dispatch_id)
        except NotFound:
            raise not_found() from None
        attempts = await logs.delivery_attempts(session, entry.dispatch.message_id)
        command = None
        if entry.dispatch.command_id is not None:
            try:
                command = (await logs.command(session, entry.dispatch.command_id)).command
            except NotFound:
                command = None
        refs = await channel_refs(session)
        titles = await logs.chat_titles(session, {(entry.dispatch.channel_id,
                                                   entry.dispatch.chat_id)})
    cmd: CommandLog | None = command
    return await render(
        request, "ws/dispatch.html", page=page, active="dispatches",
        title=f"Dispatch {entry.id}", entry=entry, d=entry.dispatch, msg=entry.message,
        attempts=attempts, cmd=cmd, channels=refs, titles=titles, reasons=REASON_TEXT,
        **shared(page))

"""Panel tickets: the ticket runner's log of the panel's support tickets it acted on (ticket id,
panel user, what it understood, the outcome and the reply posted on the ticket), with a detail
view. These are the panel's own tickets, never the SaaS's support tickets.

Filters (``since``, ``until``, ``status``, ``username``, ``ticket_id``, ``order_id``,
``action``) and paging (``before``) run in ``orders.logs``, as
``GET /api/v1/workspaces/{slug}/orders/panel-tickets``.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from panelpilot.console.access import not_found, open_workspace
from panelpilot.console.listing import PAGE_SIZE, Paging, id_filter
from panelpilot.console.nav import NavItem, add_workspace_page
from panelpilot.console.pages.commandlog import Filters, shared
from panelpilot.console.routing import console_router, render
from panelpilot.errors import NotFound
from panelpilot.orders import logs
from panelpilot.orders.rules import load as load_rules

router = console_router()
add_workspace_page(NavItem("panel-tickets", "Panel tickets", "/panel-tickets", section="Logs",
                           order=72))

STATUS_OPTIONS = {"": "Any outcome", **logs.TICKET_STATUSES}
ACTION_OPTIONS = {"": "Any request", **{a: a for a in ("refill", "speed", "cancel")}}
STATUS_TONES = {"replied": "ok", "decided": "pending", "reply_failed": "failed",
                "skipped": "quiet"}


@router.get("/w/{slug}/panel-tickets")
async def ticket_log(request: Request, slug: str, since: str = "", until: str = "",
                     status: str = "", username: str = "", ticket_id: str = "",
                     order_id: str = "", action: str = "", before: str = "") -> Response:
    page = await open_workspace(request, slug)
    form = Filters()
    start, end = form.times(since, until)
    filters = logs.TicketFilters(
        since=start, until=end,
        status=form.choice("status", status, STATUS_OPTIONS, "an outcome"),
        username=form.text("username", username, 100),
        ticket_id=form.text("ticket_id", ticket_id, 64),
        action=form.choice("action", action, ACTION_OPTIONS, "a request"),
        order_id=form.text("order_id", order_id, 64))
    older_than = id_filter(before)
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        rows = await logs.tickets(session, filters, limit=PAGE_SIZE + 1, before=older_than)
        anything = bool(rows) or bool(await logs.tickets(session, logs.TicketFilters(),
                                                         limit=1))
        rules, _, runner = await load_rules(session)
    base = f"{page.base}/panel-tickets"
    return await render(
        request, "ws/tickets.html", page=page, active="panel-tickets", title="Panel tickets",
        paging=Paging.of(rows, base, form.clean, older_than), status_options=STATUS_OPTIONS,
        action_options=ACTION_OPTIONS, statuses=logs.TICKET_STATUSES,
        status_tones=STATUS_TONES, anything=anything, clear_url=base,
        checked_at=runner.tickets_checked_at if runner else None,
        runner_error=logs.mask_secrets(runner.tickets_error) if runner else "",
        tickets_on=rules.tickets.enabled, subjects=rules.tickets.subjects,
        **form.values(), **shared(page))


@router.get("/w/{slug}/panel-tickets/{ticket_entry_id}")
async def ticket_detail(request: Request, slug: str, ticket_entry_id: int) -> Response:
    page = await open_workspace(request, slug)
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        try:
            row = await logs.ticket(session, ticket_entry_id)
        except NotFound:
            raise not_found() from None
        command = None
        if row.command_id is not None:
            try:
                command = await logs.command(session, row.command_id)
            except NotFound:
                command = None
    return await render(
        request, "ws/ticket.html", page=page, active="panel-tickets",
        title=f"Panel ticket {row.ticket_id}", t=row, command=command,
        statuses=logs.TICKET_STATUSES, status_tones=STATUS_TONES, mask=logs.mask_secrets,
        **shared(page))

"""The panel API log: every call panelpilot made to the workspace's panel (which endpoint, for
what, how long, and the error when one failed), with a detail view.

Filters (``since``, ``until``, ``ok``: ``ok``/``error``, ``operation``, ``purpose``) and paging
(``before``) run in ``orders.logs``, as ``GET /api/v1/workspaces/{slug}/orders/panel-calls``.
The panel's API key is never read here; error texts still pass through ``mask_secrets``.
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

router = console_router()
add_workspace_page(NavItem("panel-calls", "Panel API", "/panel-calls", section="Logs",
                           order=74))

OUTCOME_OPTIONS = {"": "Any outcome", "ok": "Worked", "error": "Failed"}
# What each operation asks the panel (Perfect Panel Admin API v2 / rental v1 wording).
OPERATIONS = {
    "get_orders": "Orders by id",
    "get_user": "A user and balance",
    "list_services": "The service list",
    "list_tickets": "New tickets",
    "get_ticket": "One ticket",
    "reply_ticket": "Reply on a ticket",
    "create_ticket": "Open a ticket (link code)",
    "test_connection": "Connection test",
}
PURPOSES = {"chat": "Customer chat", "support": "Support chat", "ticket": "Panel ticket",
            "tickets": "Ticket runner", "console": "Console", "balance": "Balance command",
            "link": "Account linking", "service cache": "Service list refresh"}
# Why a call failed (the reasons of panelpilot.panels.base), in words an owner can act on.
REASONS = {
    "auth": "The panel refused the API key: check it on the panel connection page.",
    "permission": "The API key works but may not do this: give it the permission on the panel.",
    "not_found": "The panel does not know what was asked for.",
    "unsupported": "This panel's API has no such call at this address.",
    "not_configured": "Something this call needs is not configured (e.g. the user API key).",
    "bad_request": "The panel refused the request itself.",
    "rate_limited": "The panel asked us to slow down (HTTP 429).",
    "server_error": "The panel had an error of its own (HTTP 5xx).",
    "timeout": "The panel did not answer in time.",
    "network": "The panel could not be reached.",
    "html_page": "An HTML page came instead of JSON: mostly a Cloudflare check or a hosting "
                 "error page.",
    "malformed": "The panel answered something that could not be read.",
}


@router.get("/w/{slug}/panel-calls")
async def panel_call_log(request: Request, slug: str, since: str = "", until: str = "",
                         ok: str = "", operation: str = "", purpose: str = "",
                         before: str = "") -> Response:
    page = await open_workspace(request, slug)
    form = Filters()
    start, end = form.times(since, until)
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        seen_ops, seen_purposes = await logs.panel_call_names(session)
        operations = {"": "Any endpoint", **{o: f"{o} — {OPERATIONS[o]}" if o in OPERATIONS
                                             else o for o in sorted({*OPERATIONS, *seen_ops})}}
        purposes = {"": "Any purpose", **{p: PURPOSES.get(p, p)
                                          for p in sorted({*PURPOSES, *seen_purposes})}}
        outcome = form.choice("ok", ok, OUTCOME_OPTIONS, "an outcome")
        filters = logs.PanelCallFilters(
            since=start, until=end, ok={"ok": True, "error": False}.get(outcome or ""),
            operation=form.choice("operation", operation, operations, "an endpoint"),
            purpose=form.choice("purpose", purpose, purposes, "a purpose"))
        older_than = id_filter(before)
        rows = await logs.panel_calls(session, filters, limit=PAGE_SIZE + 1,
                                      before=older_than)
        anything = bool(rows) or bool(seen_ops)
    base = f"{page.base}/panel-calls"
    return await render(
        request, "ws/panelcalls.html", page=page, active="panel-calls", title="Panel API log",
        paging=Paging.of(rows, base, form.clean, older_than), outcome_options=OUTCOME_OPTIONS,
        operation_options=operations, purpose_options=purposes, operations=OPERATIONS,
        purposes=PURPOSES, anything=anything, clear_url=base, mask=logs.mask_secrets,
        **form.values(), **shared(page))


@router.get("/w/{slug}/panel-calls/{panel_call_id}")
async def panel_call_detail(request: Request, slug: str, panel_call_id: int) -> Response:
    page = await open_workspace(request, slug)
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        try:
            call = await logs.panel_call(session, panel_call_id)
        except NotFound:
            raise not_found() from None
        command = None
        if call.command_id is not None:
            try:
                command = (await logs.command(session, call.command_id)).command
            except NotFound:
                command = None
    return await render(
        request, "ws/panelcall.html", page=page, active="panel-calls",
        title=f"Panel call {call.id}", call=call, command=command, operations=OPERATIONS,
        purposes=PURPOSES, reasons=REASONS, mask=logs.mask_secrets, **shared(page))

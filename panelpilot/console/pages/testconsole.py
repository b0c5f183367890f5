"""The test console: send a command as a chosen linked customer (or as a support chat) through the
real pipeline and see how it was read, each order's checks, the customer's answer and what would
go to which provider group. Nothing is sent and no cooldown is taken, but the panel is asked for
real, so the page is for owners only (like the connection test).

Runs go through ``orders.testrun`` (as the JSON API's ``/orders/test-runs``) and are kept; a
passing run completes the setup checklist's last step.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from panelpilot.console import checklist
from panelpilot.console.access import WorkspacePage, not_found, open_workspace, sentence
from panelpilot.console.listing import Paging, id_filter
from panelpilot.console.nav import NavItem, add_workspace_page
from panelpilot.console.routing import console_router, redirect, render
from panelpilot.errors import DomainError, NotFound
from panelpilot.orders import linked_chats, testrun
from panelpilot.orders.models import OrderTestRun
from panelpilot.panels.service import get_connection

router = console_router()
add_workspace_page(NavItem("test", "Test console", "/test-console", section="Setup",
                           owner_only=True, order=90))

AS_SUPPORT = "__support__"  # the "as a support chat" choice (no username has spaces or this)
RUNS_PER_PAGE = 20
STATE_SIGNS = {"pass": "✓", "fail": "✗", "warn": "!", "skip": "–"}
VERDICT_LABELS = {
    "sent": "allowed: would be sent",
    "status": "status answer",
    "not_found": "not found",
    "not_yours": "not the customer's",
    "not_eligible": "not allowed",
    "too_early": "too early",
    "cooldown": "cooling down",
    "provider_missing": "no external id",
    "route_missing": "no route",
}


async def _page(request: Request, slug: str) -> WorkspacePage:
    return await open_workspace(request, slug, owner_only=True)


async def _show(request: Request, page: WorkspacePage, *, run: OrderTestRun | None = None,
                status: int = 200, errors: dict[str, str] | None = None,
                values: dict[str, str] | None = None, before: str = "") -> Response:
    older_than = id_filter(before)
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        users = await linked_chats.linked_usernames(session)
        runs = await testrun.recent_runs(session, limit=RUNS_PER_PAGE + 1, before=older_than)
        panel = await get_connection(session)
    if values is None:
        if run is not None:
            values = {"as": run.username or AS_SUPPORT, "text": run.text}
        else:
            values = {"as": users[0][0] if users else AS_SUPPORT, "text": ""}
    options = {name: f"{name} ({where})" for name, where in users}
    options[AS_SUPPORT] = "As a support chat (any order of the workspace)"
    base = f"{page.base}/test-console"
    return await render(
        request, "ws/testconsole.html", status=status, page=page, active="test",
        title="Test console", run=run, result=run.result if run else None,
        options=options, has_users=bool(users), panel=panel, errors=errors or {},
        values=values, paging=Paging.of(runs, base, {}, older_than, size=RUNS_PER_PAGE),
        signs=STATE_SIGNS, verdict_labels=VERDICT_LABELS, as_support=AS_SUPPORT)


@router.get("/w/{slug}/test-console")
async def test_console(request: Request, slug: str, before: str = "") -> Response:
    page = await _page(request, slug)
    return await _show(request, page, before=before)


@router.post("/w/{slug}/test-console")
async def run_test(request: Request, slug: str) -> Response:
    page = await _page(request, slug)
    values = {"as": page.value("as"), "text": page.value("text")}
    errors: dict[str, str] = {}
    username: str | None = None
    if values["as"] != AS_SUPPORT:
        async with page.console.ctx.db.read_session(page.ws.id) as session:
            known = {name for name, _ in await linked_chats.linked_usernames(session)}
        if values["as"] not in known:
            errors["as"] = "Choose a linked user from the list, or “As a support chat”."
        username = values["as"]
    if not values["text"]:
        errors["text"] = "Type a command, for example 2274209 refill."
    if not errors:
        try:
            row = await testrun.run_test(page.console.ctx, page.ws.id, text=values["text"],
                                         username=username, run_by=page.user.email)
        except DomainError as exc:
            errors[exc.field if exc.field in ("text",) else "as"] = sentence(exc.message)
    if errors:
        return await _show(request, page, status=422, errors=errors, values=values)
    if row.passed:
        page.flash("success", "The test passed: the command would go to a provider group.")
    else:
        page.flash("info", "The test ran: see below what would happen and why.")
    return redirect(f"{page.base}/test-console/{row.id}#result")


@router.get("/w/{slug}/test-console/{run_id}")
async def test_run(request: Request, slug: str, run_id: int, before: str = "") -> Response:
    page = await _page(request, slug)
    try:
        async with page.console.ctx.db.read_session(page.ws.id) as session:
            run = await testrun.get_run(session, run_id)
    except NotFound:
        raise not_found() from None
    return await _show(request, page, run=run, before=before)


# --- the setup checklist ---------------------------------------------------------------------


async def test_command_sent(c: checklist.StepContext) -> checklist.ChecklistItem:
    passed = await testrun.last_passed(c.session)
    if passed is not None:
        detail = f"“{passed.text}” passed: {passed.summary.removeprefix('Passed: ')}"
    elif await testrun.recent_runs(c.session, limit=1):
        detail = "No test has passed yet: open the test console to see what the last one " \
                 "found."
    else:
        detail = "Run a customer's command such as “2274209 refill” through the real checks."
    return checklist.ChecklistItem("test_command", "Send a test command", passed is not None,
                                   f"{c.base}/test-console", detail, owner_only=True)


checklist.provide("test_command", test_command_sent)

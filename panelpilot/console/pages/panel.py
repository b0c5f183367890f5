"""The panel connection: type, address and write-only API keys, and the real connection test."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from starlette.responses import Response

from panelpilot.console.access import WorkspacePage, open_workspace, sentence
from panelpilot.console.routing import console_router, redirect, render, render_fragment
from panelpilot.errors import DomainError, NotFound
from panelpilot.panels import service
from panelpilot.panels.base import (
    PART_EXTERNAL_ID,
    PART_ORDERS,
    PART_SERVICES,
    PART_TICKETS,
    PART_USERS,
)
from panelpilot.panels.connection import PANEL_TYPES

log = logging.getLogger(__name__)
router = console_router()

TYPE_LABELS = {
    "perfectpanel": "Perfect Panel (Admin API v2)",
    "rental": "Rental panel script (Admin API v1)",
}
# (part, report field, what an admin reads), in the order an admin checks them.
PARTS = [
    (PART_ORDERS, "orders_readable", "Read orders"),
    (PART_EXTERNAL_ID, "external_id_visible", "See each order's external id"),
    (PART_USERS, "users_readable", "Read users"),
    (PART_TICKETS, "tickets_readable", "Read tickets"),
    (PART_SERVICES, "services_readable", "Read the service list (user API key)"),
]
PARTIAL_HEADER = "x-console-partial"


@dataclass
class PartResult:
    label: str
    state: str  # ok, fail, skip
    text: str


def report_rows(report: dict[str, Any]) -> list[PartResult]:
    problems = report.get("problems") or {}
    notes = report.get("notes") or {}
    rows = []
    for part, field, label in PARTS:
        value = report.get(field)
        if value is True:
            rows.append(PartResult(label, "ok", "Works."))
        elif value is False:
            rows.append(PartResult(label, "fail", str(problems.get(part) or "Does not work.")))
        else:
            rows.append(PartResult(label, "skip", str(notes.get(part) or "Not checked.")))
    return rows


async def _show(request: Request, page: WorkspacePage, *, status: int = 200,
                errors: dict[str, str] | None = None,
                values: dict[str, str] | None = None) -> Response:
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        conn = await service.get_connection(session)
        view = service.view(conn) if conn else None
    if values is None:
        values = {"type": view.type if view else "perfectpanel", "url": view.url if view else ""}
    report = view.last_test_report if view else {}
    return await render(request, "ws/panel.html", status=status, page=page, active="panel",
                        title="Panel connection", panel=view, types=TYPE_LABELS,
                        errors=errors or {}, values=values,
                        rows=report_rows(report) if report else [], report=report)


@router.get("/w/{slug}/panel")
async def panel_page(request: Request, slug: str) -> Response:
    return await _show(request, await open_workspace(request, slug))


@router.post("/w/{slug}/panel")
async def save_panel(request: Request, slug: str) -> Response:
    page = await open_workspace(request, slug)
    ctx = page.console.ctx
    values = {"type": page.value("type"), "url": page.value("url")}
    errors: dict[str, str] = {}
    changed = False
    if values["type"] not in PANEL_TYPES:
        errors["type"] = "Choose the panel type."
    if not values["url"]:
        errors["url"] = "Enter the panel's address, e.g. https://yourpanel.com."
    if not errors:
        try:
            async with ctx.db.session(page.ws.id) as session:
                _, changed = await service.set_connection(
                    session, ctx.keyring, page.ws.id, panel_type=values["type"],
                    url=values["url"], api_key=page.value("api_key") or None,
                    user_api_key=page.value("user_api_key") or None,
                    clear_user_api_key=page.value("clear_user_api_key") == "1")
        except DomainError as exc:
            errors[exc.field or "form"] = sentence(exc.message)
    if errors:
        return await _show(request, page, status=422, errors=errors, values=values)
    if changed:
        page.flash("success", "Panel connection saved. Press “Test connection” to check it.")
    else:
        page.flash("info", "Nothing changed.")
    return redirect(f"{page.base}/panel")


@router.post("/w/{slug}/panel/test")
async def test_panel(request: Request, slug: str) -> Response:
    page = await open_workspace(request, slug)
    ctx = page.console.ctx
    partial = request.headers.get(PARTIAL_HEADER) == "1"
    try:
        report = await service.test_connection(ctx.db, ctx.keyring, ctx.http, page.ws.id)
    except NotFound:
        page.flash("error", "Save a panel connection first, then test it.")
        return redirect(f"{page.base}/panel")
    except Exception:
        log.exception("panel test failed unexpectedly")
        report = None
    if partial:
        # console.js swaps this in place of the last result; the page itself does not reload.
        return await render_fragment(
            request, "ws/_panel_test.html", page=page, report=report or {},
            rows=report_rows(report) if report else [], crashed=report is None,
            tested_now=True)
    if report is None:
        page.flash("error", "The test could not run because of an unexpected error; it was "
                            "logged. Try again in a minute.")
    elif report.get("ok"):
        page.flash("success", "The panel answered and every checked part works.")
    else:
        page.flash("error", "The panel test found problems: see the result below.")
    return redirect(f"{page.base}/panel#test-result")


@router.post("/w/{slug}/panel/delete")
async def delete_panel(request: Request, slug: str) -> Response:
    page = await open_workspace(request, slug)
    async with page.console.ctx.db.session(page.ws.id) as session:
        removed = await service.delete_connection(session)
    page.flash("success" if removed else "info",
               "The panel connection and its keys were removed." if removed
               else "There was no panel connection to remove.")
    return redirect(f"{page.base}/panel")

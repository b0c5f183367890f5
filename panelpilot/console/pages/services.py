"""Service rules: the panel's cached service catalogue, what each service's name says about its
start window and refill policy (and why), and the workspace's rules that override it.

The list and the detail come from ``orders.admin.services_view`` / ``service_detail``; a rule is
saved by ``orders.admin.set_service_rule`` and removed by ``delete_service_rule``; "Refresh from
panel now" calls ``orders.services.refresh_services``: all as the JSON API does. The list pages
by service id (``after``), searches ids and names (``q``) and filters (``show``).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from sqlalchemy import select
from starlette.responses import Response

from panelpilot.console.access import WorkspacePage, not_found, open_workspace, sentence
from panelpilot.console.listing import text_filter, url_with
from panelpilot.console.nav import NavItem, add_workspace_page
from panelpilot.console.routing import console_router, redirect, render
from panelpilot.errors import DomainError
from panelpilot.orders import admin
from panelpilot.orders.models import ServiceOverride
from panelpilot.orders.rules import override_export
from panelpilot.orders.services import REFRESH_EVERY, refresh_services
from panelpilot.panels import service as panels

router = console_router()
add_workspace_page(NavItem("services", "Service rules", "/services", section="Setup",
                           order=48))
PAGE_SIZE = 50
SHOW_OPTIONS = {"": "All services", "unknown_start": "Start window unknown",
                "unknown_refill": "Refill policy unknown", "overridden": "With a rule of yours"}
FROM_LABELS = {"override": "your rule", "name": "from the name", "default": "your default",
               "none": "not stated"}


@router.get("/w/{slug}/services")
async def list_services(request: Request, slug: str, q: str = "", show: str = "",
                        after: str = "") -> Response:
    page = await open_workspace(request, slug)
    q, after = text_filter(q), text_filter(after)[:64]
    errors: dict[str, str] = {}
    if show and show not in SHOW_OPTIONS:
        errors["show"], show = "Choose a filter from the list.", ""
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        rows = await admin.services_view(session, q=q or None, limit=PAGE_SIZE + 1,
                                         after=after or None, show=show or None)
        refresh_state = await admin.services_status(session)
        connected = await panels.get_connection(session) is not None
    base = f"{page.base}/services"
    filters = {"q": q, "show": show}
    shown = rows[:PAGE_SIZE]
    next_url = url_with(base, {**filters, "after": shown[-1]["service_id"]}) \
        if len(rows) > PAGE_SIZE else None
    first_url = url_with(base, filters) if after else None
    return await render(
        request, "ws/services.html", page=page, active="services", title="Service rules",
        rows=shown, status_info=refresh_state, connected=connected, values=filters, errors=errors,
        show_options=SHOW_OPTIONS, from_labels=FROM_LABELS, next_url=next_url,
        first_url=first_url, filtered=bool(q or show), clear_url=base,
        refresh_hours=int(REFRESH_EVERY.total_seconds() // 3600),
        here=url_with(base, {**filters, "after": after}))


def _rule_values(override: ServiceOverride | None) -> dict[str, str]:
    if override is None:
        return {}
    exported = override_export(override)
    return {k: str(exported.get(k, "")) for k in ("start", "refill", "note")}


async def _detail(request: Request, page: WorkspacePage, service_id: str, *,
                  values: dict[str, str] | None = None, errors: dict[str, str] | None = None,
                  status: int = 200) -> Response:
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        view = await admin.service_detail(session, service_id)
        override = (await session.execute(select(ServiceOverride).where(
            ServiceOverride.service_id == service_id))).scalar()
    if view is None:
        raise not_found()
    current = _rule_values(override)
    return await render(
        request, "ws/service.html", status=status, page=page, active="services",
        title=f"Service {service_id}", service=view, rule=override, current=current,
        values=values if values is not None else current, errors=errors or {},
        from_labels=FROM_LABELS)


@router.get("/w/{slug}/services/{service_id}")
async def service_page(request: Request, slug: str, service_id: str) -> Response:
    page = await open_workspace(request, slug)
    return await _detail(request, page, service_id)


async def _known(page: WorkspacePage, service_id: str) -> None:
    # The console writes rules for services it can show (in the catalogue or already ruled);
    # the API also takes ids the catalogue does not list yet.
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        if await admin.service_detail(session, service_id) is None:
            raise not_found()


@router.post("/w/{slug}/services/{service_id}/rule")
async def save_rule(request: Request, slug: str, service_id: str) -> Response:
    page = await open_workspace(request, slug)
    await _known(page, service_id)
    values = {"start": page.value("start"), "refill": page.value("refill"),
              "note": page.value("note")}
    errors: dict[str, str] = {}
    if len(values["note"]) > 300:
        errors["note"] = "Keep the note to 300 characters or fewer."
    else:
        try:
            async with page.console.ctx.db.session(page.ws.id) as session:
                await admin.set_service_rule(session, page.ws.id, service_id,
                                             start=values["start"] or None,
                                             refill=values["refill"] or None,
                                             note=values["note"])
        except DomainError as exc:
            field = exc.field if exc.field in ("start", "refill") else "form"
            errors[field] = sentence(exc.message)
    if errors:
        return await _detail(request, page, service_id, values=values, errors=errors,
                             status=422)
    page.flash("success", f"Rule saved: service {service_id} now follows it.")
    return redirect(f"{page.base}/services/{service_id}")


@router.post("/w/{slug}/services/{service_id}/rule/delete")
async def delete_rule(request: Request, slug: str, service_id: str) -> Response:
    page = await open_workspace(request, slug)
    await _known(page, service_id)
    try:
        async with page.console.ctx.db.session(page.ws.id) as session:
            await admin.delete_service_rule(session, service_id)
    except DomainError:
        page.flash("info", f"Service {service_id} had no rule of yours: nothing changed.")
    else:
        page.flash("success", f"Rule removed: service {service_id} follows its name again.")
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        still = await admin.service_detail(session, service_id)
    # A rule for a service the catalogue does not list leaves nothing to show.
    return redirect(f"{page.base}/services/{service_id}" if still else f"{page.base}/services")


@router.post("/w/{slug}/services/refresh")
async def refresh(request: Request, slug: str) -> Response:
    page = await open_workspace(request, slug)
    result: dict[str, Any] = await refresh_services(page.console.ctx, page.ws.id)
    if result.get("ok"):
        page.flash("success", f"Catalogue read from the panel: {result['services']} services "
                              f"({result['added']} new, {result['changed']} changed, "
                              f"{result['removed']} gone).")
    elif result.get("error") == "no panel connection":
        page.flash("error", "Connect your panel first: the catalogue comes from its API.")
    else:
        page.flash("error", f"The panel did not give its catalogue: {result.get('error')}. "
                            "The services below are from the last successful read.")
    return redirect(f"{page.base}/services")

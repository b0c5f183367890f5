"""Default templates (platform owner only): every customer template with its built-in wording
and the platform's own, an editor with the same live preview as a workspace's template page,
and "reset to built-in". A workspace created afterwards starts with these wordings as its own
templates; workspaces that exist already keep theirs.

Saving and resetting call ``panelpilot.templates.defaults`` (the same code as
``/api/v1/platform/default-templates``); the preview is ``console.pages.templates.preview``.
The template key travels in the query string (pages) and in the form (changes), so the master
admin's paths have no placeholder other than a workspace slug.
"""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from panelpilot.console.access import AdminPage, not_found, open_admin, sentence
from panelpilot.console.listing import text_filter, url_with
from panelpilot.console.nav import NavItem, add_admin_page
from panelpilot.console.pages.templates import PARTIAL_HEADER, preview
from panelpilot.console.routing import console_router, redirect, render, render_fragment
from panelpilot.errors import DomainError
from panelpilot.templates import defaults, service

router = console_router()
add_admin_page(NavItem("default_templates", "Default templates", "/admin/templates",
                       section="Platform", order=40))
BASE = "/admin/templates"
SHOW_OPTIONS = {"": "All templates", "custom": "Platform wording only",
                "builtin": "Built-in only"}


def _edit_url(key: str) -> str:
    return url_with(f"{BASE}/edit", {"key": key})


def _key(page: AdminPage, raw: str | None = None) -> str:
    key = raw if raw is not None else page.value("key")
    if key not in service.DEFAULTS:
        raise not_found()
    return key


def _text(page: AdminPage) -> str:
    # Browsers send a textarea's line breaks as CRLF; customers' chats get plain newlines.
    raw = page.form.get("text") if page.form is not None else None
    return raw.replace("\r\n", "\n").replace("\r", "\n").strip() if isinstance(raw, str) else ""


@router.get("/admin/templates")
async def list_defaults(request: Request, q: str = "", show: str = "") -> Response:
    page = await open_admin(request)
    q = text_filter(q)
    show = show if show in SHOW_OPTIONS else ""
    async with page.console.ctx.db.read_session() as session:
        every = await defaults.rows(session)
    rows = [r for r in every
            if (not q or q.lower() in r.key.lower() or q.lower() in r.text.lower())
            and (show != "custom" or r.customized) and (show != "builtin" or not r.customized)]
    return await render(request, "admin/templates.html", page=page, active="default_templates",
                        title="Default templates", rows=rows, total=len(every),
                        customized=sum(1 for r in every if r.customized),
                        values={"q": q, "show": show}, show_options=SHOW_OPTIONS,
                        filtered=bool(q or show), clear_url=BASE, edit_url=_edit_url)


async def _detail(request: Request, page: AdminPage, key: str, *, status: int = 200,
                  draft: str | None = None, errors: dict[str, str] | None = None) -> Response:
    async with page.console.ctx.db.read_session() as session:
        row = await defaults.row(session, key)
    text = row.text if draft is None else draft
    return await render(request, "admin/template.html", status=status, page=page,
                        active="default_templates", title=f"Default template {key}", row=row,
                        preview=preview(key, text), draft=draft is not None,
                        errors=errors or {}, values={"text": text}, edit_url=_edit_url)


@router.get("/admin/templates/edit")
async def edit_default(request: Request, key: str = "") -> Response:
    page = await open_admin(request)
    if not key:
        return redirect(BASE)  # no template chosen: the list to choose from
    return await _detail(request, page, _key(page, key))


@router.post("/admin/templates/save")
async def save_default(request: Request) -> Response:
    page = await open_admin(request)
    key = _key(page)
    text = _text(page)
    try:
        async with page.console.ctx.db.platform_session() as session:
            builtin = text == service.DEFAULTS[key]
            changed = await defaults.set_default(session, key, text)
    except DomainError as exc:
        return await _detail(request, page, key, status=422, draft=text,
                             errors={"text": sentence(exc.message)})
    if not changed:
        page.flash("info", "Nothing changed.")
    elif builtin:
        page.flash("success", "This is the built-in wording, so new workspaces get the "
                              "built-in wording.")
    else:
        page.flash("success", "Saved: workspaces created from now on start with this wording. "
                              "Existing workspaces keep theirs.")
    return redirect(_edit_url(key))


@router.post("/admin/templates/preview")
async def preview_default(request: Request) -> Response:
    page = await open_admin(request)
    key = _key(page)
    text = _text(page)
    if request.headers.get(PARTIAL_HEADER) == "1":
        return await render_fragment(request, "ws/_template_preview.html", page=page,
                                     preview=preview(key, text), live=True)
    # Without JavaScript: the whole page, with the draft kept in the form and not saved.
    return await _detail(request, page, key, draft=text)


@router.post("/admin/templates/reset")
async def reset_default(request: Request) -> Response:
    page = await open_admin(request)
    key = _key(page)
    async with page.console.ctx.db.platform_session() as session:
        removed = await defaults.reset_default(session, key)
    page.flash("success" if removed else "info",
               "New workspaces get the built-in wording again." if removed else
               "New workspaces already get the built-in wording.")
    return redirect(_edit_url(key))

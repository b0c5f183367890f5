"""Customer templates: every message the bot can send a customer, with its default wording, the
workspace's own wording, an edit form, "reset to default", and a preview with sample values.

Saving and resetting call ``panelpilot.templates.service`` (the same code as the JSON API); the
preview renders with its ``render_text``, so what the page shows is what a customer would get.
The preview endpoint answers a small fetch from ``live-preview.js`` while the owner types, and a
plain form post without JavaScript.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import Request
from sqlalchemy import select
from starlette.responses import Response

from panelpilot.console.access import WorkspacePage, not_found, open_workspace, sentence
from panelpilot.console.listing import text_filter, url_with
from panelpilot.console.nav import NavItem, add_workspace_page
from panelpilot.console.routing import console_router, redirect, render, render_fragment
from panelpilot.errors import DomainError
from panelpilot.templates import service
from panelpilot.templates.models import Template

router = console_router()
add_workspace_page(NavItem("templates", "Customer templates", "/templates", section="Setup",
                           order=40))
PARTIAL_HEADER = "x-console-partial"

# What the preview puts in for each value a message can carry. A value this table does not
# know shows as [name], so a new module's template still previews sensibly.
SAMPLE_VALUES: dict[str, str] = {
    "ids": "2274209, 2274210",
    "id": "2274209",
    "order_id": "2274209",
    "external_id": "EXT-99812",
    "action": "refill",
    "reason": "the order is canceled",
    "status": "In progress",
    "quantity": "1000",
    "start_count": "1520",
    "remains": "250",
    "when": "in 2 hours",
    "time_left": "3 hours",
    "max_ids": "20",
    "count": "25",
    "username": "john",
    "balance": "$12.40",
    "suggestion": "refill",
    "minutes": "10",
    "tries_left": "2",
    "code": "482913",
    "provider": "Provider A",
    "days": "30",
    "date": "2025-01-31",
}
SHOW_OPTIONS = {"": "All templates", "custom": "Your wording only", "default": "Default only"}


class _Samples(dict[str, Any]):
    # As the service does: a value the bot does not fill in stays as written.
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def field_names(text: str) -> list[str]:
    """The values a text asks for (``{ids}`` → ``ids``), in order; ValueError when its braces
    do not pair up."""
    names: list[str] = []
    for _, name, _, _ in string.Formatter().parse(text):
        if name is None:
            continue
        root = name.split(".")[0].split("[")[0]
        if root not in names:
            names.append(root)
    return names


def _safe_names(text: str) -> list[str]:
    try:
        return field_names(text)
    except ValueError:
        return []


@dataclass
class Preview:
    """A text as a customer would read it, with the sample values marked."""

    text: str
    segments: list[tuple[str, str]]  # (piece, "text" | "value" | "unknown")
    values: list[tuple[str, str, bool]]  # (name, sample, used by this wording)
    warnings: list[str] = field(default_factory=list)
    problem: str = ""  # why it could not be saved as it is


def _samples_for(key: str) -> dict[str, str]:
    return {name: SAMPLE_VALUES.get(name, f"[{name}]")
            for name in _safe_names(service.DEFAULTS[key])}


BRACES_WARNING = ("The braces { } in this text can not be filled in (one is missing its pair, "
                  "or it is empty), so customers would get it exactly as written. Write {{ or "
                  "}} for a brace that should be shown.")


def _segments(text: str, samples: dict[str, str]) -> tuple[list[tuple[str, str]], list[str]]:
    """The text cut into literal pieces and filled-in values, and what looks wrong in it."""
    segments: list[tuple[str, str]] = []
    warnings: list[str] = []
    try:
        string.Formatter().vformat(text, (), _Samples(samples))
        for literal, name, spec, conversion in string.Formatter().parse(text):
            if literal:
                segments.append((literal, "text"))
            if name is None:
                continue
            source = "{" + name + (f"!{conversion}" if conversion else "") + \
                (f":{spec}" if spec else "") + "}"
            root = name.split(".")[0].split("[")[0]
            segments.append((service.render_text(source, samples),
                             "value" if root in samples else "unknown"))
            if root != name:
                warnings.append(f"Write values as plain names, like {{{root}}}: {{{name}}} "
                                "would not show what you expect.")
    except (ValueError, IndexError, AttributeError, KeyError, TypeError):
        return [], [BRACES_WARNING]
    return segments, warnings


def _unknown(names: list[str], samples: dict[str, str]) -> list[str]:
    known = ", ".join("{" + n + "}" for n in samples)
    return [f"{{{name}}} is not one of this message's values ({known}), so customers would "
            "see it exactly as written." if samples else
            f"This message has no values to fill in, so customers would see {{{name}}} "
            "exactly as written." for name in names if name not in samples]


def preview(key: str, text: str) -> Preview:
    samples = _samples_for(key)
    rendered = service.render_text(text, samples)  # exactly what the bot would send
    segments, warnings = _segments(text, samples)
    if "".join(piece for piece, _ in segments) != rendered:
        segments = [(rendered, "text")]  # the marking is cosmetic: the service has the say
    names = _safe_names(text)
    problem = ""
    try:
        service.check_template(key, text)
    except DomainError as exc:
        problem = sentence(exc.message)
    return Preview(rendered, segments, [(n, v, n in names) for n, v in samples.items()],
                   list(dict.fromkeys(warnings + _unknown(names, samples))), problem)


@dataclass
class TemplateRow:
    key: str
    text: str
    default: str
    customized: bool
    updated_at: datetime | None

    @property
    def first_line(self) -> str:
        line = self.text.strip().splitlines()[0] if self.text.strip() else ""
        return line if len(line) <= 120 else line[:119] + "…"

    @property
    def names(self) -> list[str]:
        return _safe_names(self.default)


async def _rows(page: WorkspacePage) -> list[TemplateRow]:
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        own = {t.key: t for t in (await session.execute(select(Template))).scalars()}
    return [TemplateRow(k, own[k].text if k in own else d, d, k in own,
                        own[k].updated_at if k in own else None)
            for k, d in sorted(service.DEFAULTS.items())]


async def _row(page: WorkspacePage, key: str) -> TemplateRow:
    if key not in service.DEFAULTS:
        raise not_found()
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        own = (await session.execute(select(Template).where(Template.key == key))).scalar()
    default = service.DEFAULTS[key]
    return TemplateRow(key, own.text if own else default, default, own is not None,
                       own.updated_at if own else None)


@router.get("/w/{slug}/templates")
async def list_templates(request: Request, slug: str, q: str = "", show: str = "") -> Response:
    page = await open_workspace(request, slug)
    q = text_filter(q)
    show = show if show in SHOW_OPTIONS else ""
    every = await _rows(page)
    rows = [r for r in every
            if (not q or q.lower() in r.key.lower() or q.lower() in r.text.lower())
            and (show != "custom" or r.customized) and (show != "default" or not r.customized)]
    return await render(request, "ws/templates.html", page=page, active="templates",
                        title="Customer templates", rows=rows, total=len(every),
                        customized=sum(1 for r in every if r.customized),
                        values={"q": q, "show": show}, show_options=SHOW_OPTIONS,
                        filtered=bool(q or show),
                        clear_url=url_with(f"{page.base}/templates", {}))


def _text(page: WorkspacePage) -> str:
    # Browsers send a textarea's line breaks as CRLF; customers' chats get plain newlines.
    raw = page.form.get("text") if page.form is not None else None
    return raw.replace("\r\n", "\n").replace("\r", "\n").strip() if isinstance(raw, str) else ""


async def _detail(request: Request, page: WorkspacePage, row: TemplateRow, *,
                  status: int = 200, draft: str | None = None,
                  errors: dict[str, str] | None = None) -> Response:
    text = row.text if draft is None else draft
    return await render(request, "ws/template.html", status=status, page=page,
                        active="templates", title=f"Template {row.key}", row=row,
                        preview=preview(row.key, text), draft=draft is not None,
                        errors=errors or {}, values={"text": text})


@router.get("/w/{slug}/templates/{template_key}")
async def template_page(request: Request, slug: str, template_key: str) -> Response:
    page = await open_workspace(request, slug)
    return await _detail(request, page, await _row(page, template_key))


@router.post("/w/{slug}/templates/{template_key}")
async def save_template(request: Request, slug: str, template_key: str) -> Response:
    page = await open_workspace(request, slug)
    row = await _row(page, template_key)
    text = _text(page)
    try:
        async with page.console.ctx.db.session(page.ws.id) as session:
            if text == row.default:
                # The default, word for word: follow the default from now on (and its updates).
                changed = await service.reset_template(session, row.key)
                message = "This is the default wording, so the bot uses the default."
            else:
                changed = await service.set_template(session, page.ws.id, row.key, text)
                message = "Saved: customers get your wording from now on."
    except DomainError as exc:
        errors = {"text": sentence(exc.message)}
        return await _detail(request, page, row, status=422, draft=text, errors=errors)
    page.flash("success" if changed else "info", message if changed else "Nothing changed.")
    return redirect(f"{page.base}/templates/{row.key}")


@router.post("/w/{slug}/templates/{template_key}/preview")
async def preview_template(request: Request, slug: str, template_key: str) -> Response:
    page = await open_workspace(request, slug)
    row = await _row(page, template_key)
    text = _text(page)
    if request.headers.get(PARTIAL_HEADER) == "1":
        return await render_fragment(request, "ws/_template_preview.html", page=page,
                                     preview=preview(row.key, text), live=True)
    # Without JavaScript: the whole page, with the draft kept in the form and not saved.
    return await _detail(request, page, row, draft=text)


@router.post("/w/{slug}/templates/{template_key}/reset")
async def reset_template(request: Request, slug: str, template_key: str) -> Response:
    page = await open_workspace(request, slug)
    row = await _row(page, template_key)
    async with page.console.ctx.db.session(page.ws.id) as session:
        removed = await service.reset_template(session, row.key)
    page.flash("success" if removed else "info",
               "Back to the default wording." if removed else "This template already uses "
               "the default wording.")
    return redirect(f"{page.base}/templates/{row.key}")

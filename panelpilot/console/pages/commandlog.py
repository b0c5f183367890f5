"""The command log: every order command (and every message nobody understood) with who sent it,
what the bot made of it, each order's verdict and how long it took; a detail view shows the
parsed command, each order's verdict and the panel status seen, the answer sent, the provider
dispatches and the message or panel ticket it came from.

Filters (``since``, ``until``, ``chat_id``, ``username``, ``order_id``, ``verdict``, ``action``,
``source``, ``error_type``) and paging (``before``) run in ``orders.logs``, the same queries as
``GET /api/v1/workspaces/{slug}/orders/commands``. This module also holds the small helpers the
other order-log pages share (time ranges, choices, labels).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import Request
from starlette.responses import Response

from panelpilot.console.access import WorkspacePage, not_found, open_workspace
from panelpilot.console.listing import (
    PAGE_SIZE,
    Paging,
    channel_refs,
    id_filter,
    text_filter,
    time_field,
    time_filter,
    url_with,
)
from panelpilot.console.nav import NavItem, add_workspace_page
from panelpilot.console.routing import console_router, render
from panelpilot.errors import NotFound
from panelpilot.orders import logs
from panelpilot.orders.models import CommandLog

router = console_router()
add_workspace_page(NavItem("commands", "Commands", "/commands", section="Logs", order=55))

MAX_ORDER_ID = 64
VERDICT_OPTIONS = {
    "": "Any verdict",
    "allowed": "Allowed (sent or status shown)",
    "refused": "Refused (any reason)",
    **{k: ("Allowed: " if k in logs.ALLOWED else "Refused: ") + v.lower()
       for k, v in logs.VERDICTS.items()},
}
OUTCOME_LABELS = {
    **{k: v for k, v in logs.VERDICTS.items()},
    "mixed": "Mixed verdicts",
    "api_problem": "Panel API problem",
    "unrecognized": "Not understood",
    "too_many": "Too many ids",
    "not_linked": "Chat not linked",
    "help": "Help shown",
}
SOURCE_OPTIONS = {"": "Any source", **logs.SOURCES}
ERROR_OPTIONS = {"": "Any or none", logs.ANY_ERROR: "Any error", **logs.ERROR_TYPES}
ACTION_OPTIONS = {"": "Any action", **{a: a for a in logs.ACTIONS}}
# Colour of a verdict or outcome badge (classes of console.css and logs.css).
_TONES = {"sent": "ok", "status": "ok", "help": "ok", "cooldown": "pending",
          "too_early": "pending", "mixed": "pending", "unrecognized": "quiet"}


def tone(value: str | None) -> str:
    """The badge class for a verdict or an outcome: green, amber, grey or red."""
    if not value:
        return "quiet"
    return _TONES.get(value, "failed" if value in logs.VERDICTS or value in (
        "api_problem", "too_many", "not_linked") else "quiet")


def label(value: str | None) -> str:
    if not value:
        return "—"
    return OUTCOME_LABELS.get(value, value.replace("_", " ").replace(":", ": "))



class Filters:
    """A log page's filter form: the values for the queries, what to show back in the form
    (an unreadable time stays in its field beside its error), and the errors."""

    def __init__(self) -> None:
        self.clean: dict[str, Any] = {}  # for the paging links
        self.shown: dict[str, str] = {}  # for the form
        self.errors: dict[str, str] = {}

    def text(self, name: str, raw: str, size: int = 200) -> str | None:
        value = text_filter(raw)[:size]
        self.clean[name] = self.shown[name] = value
        return value or None

    def choice(self, name: str, raw: str, options: dict[str, str], what: str) -> str | None:
        value = text_filter(raw)
        if value and value not in options:
            self.errors[name] = f"Choose {what} from the list."
            value = ""
        self.clean[name] = self.shown[name] = value
        return value or None

    def times(self, since: str, until: str) -> tuple[datetime | None, datetime | None]:
        start, self.errors["since"] = time_filter(since)
        end, self.errors["until"] = time_filter(until)
        if start and end and end <= start:
            self.errors["until"] = "Pick a moment after “From”."
            end = None
        self.clean["since"], self.clean["until"] = time_field(start), time_field(end)
        self.shown["since"] = time_field(start) or since.strip()[:40]
        self.shown["until"] = time_field(end) or until.strip()[:40]
        self.errors = {k: v for k, v in self.errors.items() if v}
        return start, end

    @property
    def filtered(self) -> bool:
        return any(self.clean.values())

    def values(self) -> dict[str, Any]:
        """What every log template gets for its filter form."""
        return {"values": self.shown, "errors": {k: v for k, v in self.errors.items() if v},
                "filtered": self.filtered}


def shared(page: WorkspacePage) -> dict[str, Any]:
    """Values every order-log template uses."""
    return {"tone": tone, "label": label, "verdicts": logs.VERDICTS, "sources": logs.SOURCES,
            "error_types": logs.ERROR_TYPES, "url_with": url_with, "base": page.base}


@router.get("/w/{slug}/commands")
async def command_log(request: Request, slug: str, since: str = "", until: str = "",
                      chat_id: str = "", username: str = "", order_id: str = "",
                      verdict: str = "", action: str = "", source: str = "",
                      error_type: str = "", before: str = "") -> Response:
    page = await open_workspace(request, slug)
    form = Filters()
    start, end = form.times(since, until)
    filters = logs.CommandFilters(
        since=start, until=end, chat_id=form.text("chat_id", chat_id, 128),
        username=form.text("username", username, 100),
        order_id=form.text("order_id", order_id, MAX_ORDER_ID),
        verdict=form.choice("verdict", verdict, VERDICT_OPTIONS, "a verdict"),
        action=form.choice("action", action, ACTION_OPTIONS, "an action"),
        source=form.choice("source", source, SOURCE_OPTIONS, "a source"),
        error_type=form.choice("error_type", error_type, ERROR_OPTIONS, "an error type"))
    older_than = id_filter(before)
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        rows = await logs.commands(session, filters, limit=PAGE_SIZE + 1, before=older_than)
        anything = bool(rows) or bool(await logs.commands(session, logs.CommandFilters(),
                                                          limit=1))
        refs = await channel_refs(session)
        titles = await logs.chat_titles(session, {(r.command.channel_id, r.command.chat_id)
                                                  for r in rows})
    base = f"{page.base}/commands"
    return await render(
        request, "ws/commands.html", page=page, active="commands", title="Command log",
        paging=Paging.of(rows, base, form.clean, older_than), channels=refs, titles=titles,
        verdict_options=VERDICT_OPTIONS, action_options=ACTION_OPTIONS,
        source_options=SOURCE_OPTIONS, error_options=ERROR_OPTIONS, anything=anything,
        clear_url=base, older=older_than is not None, **form.values(), **shared(page))


@router.get("/w/{slug}/commands/{command_id}")
async def command_detail(request: Request, slug: str, command_id: int) -> Response:
    page = await open_workspace(request, slug)
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        try:
            found = await logs.command_detail(session, command_id)
        except NotFound:
            raise not_found() from None
        refs = await channel_refs(session)
        cmd: CommandLog = found.command
        titles = await logs.chat_titles(session, {(cmd.channel_id, cmd.chat_id)} | {
            (d.dispatch.channel_id, d.dispatch.chat_id) for d in found.dispatches})
    return await render(
        request, "ws/command.html", page=page, active="commands", title=f"Command {cmd.id}",
        cmd=cmd, found=found, channels=refs, titles=titles, mask=logs.mask_secrets,
        **shared(page))

"""Runners (platform owner only): every background loop with its lease holder, last run, last
success and last error, and the backlogs that show whether workers keep up."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fastapi import Request
from starlette.responses import Response

from panelpilot.console.access import open_admin
from panelpilot.console.nav import NavItem, add_admin_page
from panelpilot.console.rendering import as_datetime
from panelpilot.console.routing import console_router, render
from panelpilot.runners.health import backlog, runner_rows

router = console_router()
add_admin_page(NavItem("runners", "Runners", "/admin/runners", section="Platform", order=30))

BACKLOG_LABELS = {
    "inbox_pending": "Inbound events waiting to be processed",
    "outbox_pending": "Messages waiting to be sent",
    "outbox_failed": "Messages that failed for good",
}


@dataclass
class RunnerRow:
    name: str
    holder: str | None
    lease_until: datetime | None
    last_run_at: datetime | None
    last_ok_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    runs: int

    @property
    def state(self) -> str:
        """ok, failing (the last thing it did was fail) or idle (never ran)."""
        if self.last_run_at is None:
            return "idle"
        if self.last_error_at and (self.last_ok_at is None or self.last_error_at > self.last_ok_at):
            return "failing"
        return "ok"


def _row(data: dict[str, Any]) -> RunnerRow:
    return RunnerRow(
        name=str(data["name"]), holder=data.get("holder"),
        lease_until=as_datetime(data.get("lease_until")),
        last_run_at=as_datetime(data.get("last_run_at")),
        last_ok_at=as_datetime(data.get("last_ok_at")),
        last_error=data.get("last_error"), last_error_at=as_datetime(data.get("last_error_at")),
        runs=int(data.get("runs") or 0))


@router.get("/admin/runners")
async def runners(request: Request) -> Response:
    page = await open_admin(request)
    ctx = page.console.ctx
    rows = [_row(r) for r in await runner_rows(ctx)]
    figures = await backlog(ctx)
    queues = [(BACKLOG_LABELS[k], figures.get(k, 0), k) for k in BACKLOG_LABELS]
    channel_states = sorted((k.removeprefix("channels_"), v) for k, v in figures.items()
                            if k.startswith("channels_"))
    return await render(request, "admin/runners.html", page=page, active="runners",
                        title="Runners", rows=rows, queues=queues, channel_states=channel_states)

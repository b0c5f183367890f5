"""The workspace's panel for order support: its adapter, with every call timed and recorded.

Calls happen outside any database transaction; what they did is kept in memory as
``CallRecord`` and written to the panel-call log in the transaction that records the result.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.context import Context
from panelpilot.db.base import utcnow
from panelpilot.orders.models import PanelCall
from panelpilot.panels.base import (
    PanelAdapter,
    PanelError,
    PanelOrder,
    PanelService,
    PanelTicket,
    PanelUser,
)

T = TypeVar("T")


@dataclass
class CallRecord:
    operation: str
    purpose: str
    detail: str
    ok: bool
    duration_ms: int
    at: datetime
    reason: str = ""
    error: str = ""
    status_code: int | None = None


@dataclass
class Panel:
    """A panel adapter that remembers its calls (``calls``) for the panel-call log."""

    adapter: PanelAdapter
    panel_type: str
    purpose: str = ""
    calls: list[CallRecord] = field(default_factory=list)

    async def _call(self, operation: str, detail: str, run: Callable[[], Awaitable[T]]) -> T:
        started, at = time.monotonic(), utcnow()
        try:
            result = await run()
        except PanelError as exc:
            self.calls.append(CallRecord(operation, self.purpose, detail, False,
                                         _ms(started), at, exc.reason, exc.message[:1000],
                                         exc.status_code))
            raise
        self.calls.append(CallRecord(operation, self.purpose, detail, True, _ms(started), at))
        return result

    async def get_orders(self, ids: list[str]) -> dict[str, PanelOrder]:
        return await self._call("get_orders", f"{len(ids)} id(s): {', '.join(ids[:10])}"[:300],
                                lambda: self.adapter.get_orders(ids))

    async def get_user(self, username: str) -> PanelUser | None:
        return await self._call("get_user", username[:100],
                                lambda: self.adapter.get_user(username))

    async def list_services(self) -> list[PanelService]:
        return await self._call("list_services", "", self.adapter.list_services)

    async def list_tickets(self, since_id: str | None = None, limit: int = 50
                           ) -> list[PanelTicket]:
        return await self._call("list_tickets", f"after {since_id}" if since_id else "",
                                lambda: self.adapter.list_tickets(since_id=since_id,
                                                                  limit=limit))

    async def get_ticket(self, ticket_id: str) -> PanelTicket | None:
        return await self._call("get_ticket", ticket_id,
                                lambda: self.adapter.get_ticket(ticket_id))

    async def reply_ticket(self, ticket_id: str, message: str) -> None:
        await self._call("reply_ticket", ticket_id,
                         lambda: self.adapter.reply_ticket(ticket_id, message))

    async def create_ticket(self, username: str, subject: str, message: str) -> str:
        # The message holds a one-time code: the log names the user, never the text.
        return await self._call("create_ticket", f"for {username[:80]}",
                                lambda: self.adapter.create_ticket(username, subject, message))


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


async def open_panel(ctx: Context, workspace_id: int, purpose: str) -> Panel | None:
    """The workspace's panel, or None when it has no panel connection."""
    from panelpilot.panels import service as panels
    from panelpilot.panels.registry import make_adapter
    from panelpilot.vault.store import reveal

    async with ctx.db.read_session(workspace_id) as session:
        conn = await panels.get_connection(session)
        if conn is None:
            return None
        panel_type, url = conn.panel_type, conn.base_url
        api_key = reveal(ctx.keyring, conn.api_key)
        user_key = reveal(ctx.keyring, conn.user_api_key) if conn.user_api_key else None
    adapter = make_adapter(panel_type, base_url=url, api_key=api_key, user_api_key=user_key,
                           http=ctx.http, timeout=ctx.settings.http_timeout)
    return Panel(adapter, panel_type, purpose)


def write_calls(session: AsyncSession, workspace_id: int, calls: list[CallRecord],
                command_id: int | None = None) -> None:
    for c in calls:
        session.add(PanelCall(workspace_id=workspace_id, created_at=c.at, operation=c.operation,
                              purpose=c.purpose, detail=c.detail, ok=c.ok, reason=c.reason,
                              error=c.error, status_code=c.status_code,
                              duration_ms=c.duration_ms, command_id=command_id))


def panel_error_text(exc: Any) -> str:
    return f"{getattr(exc, 'reason', 'error')}: {getattr(exc, 'message', str(exc))}"[:1000]

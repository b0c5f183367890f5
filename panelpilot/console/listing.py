"""Pieces shared by the console's list pages (chats, message log, delivery log): filters read
from the query string, paging on descending ids with an "older" link, the workspace's channel
names, and the safe way back to a filtered list after a POST."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.channels.models import ChannelAccount
from panelpilot.console.access import WorkspacePage, safe_next

PAGE_SIZE = 50
MAX_FILTER_LENGTH = 200


@dataclass(frozen=True)
class ChannelRef:
    """What a list shows of a channel: never its credentials (only these columns are read)."""

    id: int
    key: str
    kind: str


async def channel_refs(session: AsyncSession) -> dict[int, ChannelRef]:
    rows = await session.execute(
        select(ChannelAccount.id, ChannelAccount.key, ChannelAccount.kind)
        .order_by(ChannelAccount.key))
    return {i: ChannelRef(i, k, kind) for i, k, kind in rows.all()}


def text_filter(raw: str | None) -> str:
    return (raw or "").strip()[:MAX_FILTER_LENGTH]


def id_filter(raw: str | None) -> int | None:
    """A positive id from the query string; anything else is no filter at all."""
    raw = (raw or "").strip()
    return int(raw) if raw.isdigit() and 0 < int(raw) < 2**63 else None


def time_filter(raw: str | None) -> tuple[datetime | None, str]:
    """A moment typed as ``2025-01-31``, ``2025-01-31T14:05`` or ``2025-01-31 14:05`` (UTC);
    returns it, or an error to show beside the field."""
    raw = (raw or "").strip()
    if not raw:
        return None, ""
    try:
        moment = datetime.fromisoformat(raw)
    except ValueError:
        return None, "Use a date and time like 2025-01-31 14:05 (UTC)."
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC), ""


def time_field(moment: datetime | None) -> str:
    """A UTC moment as a datetime-local field shows it (what ``time_filter`` reads back)."""
    if moment is None:
        return ""
    return moment.strftime("%Y-%m-%dT%H:%M:%S" if moment.second else "%Y-%m-%dT%H:%M")


def url_with(base: str, params: dict[str, Any]) -> str:
    """``base`` with the non-empty ``params`` as its query string."""
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"{base}?{query}" if query else base


@dataclass
class Paging:
    """One page of a list in descending id order, and the links to the pages around it."""

    rows: list[Any]
    older_url: str | None
    newest_url: str | None

    @classmethod
    def of(cls, rows: list[Any], base: str, filters: dict[str, Any], before: int | None,
           size: int = PAGE_SIZE) -> Paging:
        # The caller asked for size + 1 rows: the extra one only says an older page exists.
        shown = rows[:size]
        older = (url_with(base, {**filters, "before": shown[-1].id})
                 if len(rows) > size and shown else None)
        newest = url_with(base, filters) if before is not None else None
        return cls(shown, older, newest)


def back_to(page: WorkspacePage, raw: str, default: str) -> str:
    """Where a POST made from a (filtered) list goes back to: a page of this workspace only."""
    target = safe_next(raw) if raw else ""
    return target if target.startswith(page.base + "/") else default

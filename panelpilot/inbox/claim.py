"""Claim inbound events for processing: the oldest unfinished event of each chat, once.

An event can be claimed only when no older event of the same chat is waiting or being
processed, so a chat's messages are handled in arrival order and never two at once, across
any number of workers. A claim is a lease: if the worker dies, the event is claimed again
when the lease runs out. PostgreSQL workers skip rows another worker is claiming right now
(and check each row again as they take it); SQLite serializes writers, which gives the same
result.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, bindparam, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from panelpilot.db.claims import Claimer, ClaimQuery, claim_rows, claimed_at, now_param
from panelpilot.db.engine import Database
from panelpilot.inbox.models import EventStatus, InboundEvent

LEASE_SECONDS = 60.0


@dataclass(frozen=True)
class Claim:
    id: int
    workspace_id: int
    channel_id: int
    chat_key: str
    attempts: int  # also the claim's token: a later claim of the same event has a larger one
    payload: dict[str, Any] | None = None  # the raw update (None: read it when needed)
    # What the claim's ``prepare`` hook made of the event (inbox.context.Prepared).
    prepared: Any = None


def _ready(event: Any, now: Any) -> Any:
    """New, or claimed by a worker whose lease ran out."""
    return or_(event.status == EventStatus.NEW,
               and_(event.status == EventStatus.PROCESSING, event.locked_until < now))


def _claimable() -> Select[Any]:
    """Claimable event ids, oldest first; parameter ``now``.

    Per chat, the oldest unfinished event, when it is ready itself: one scan of the unfinished
    events and a GROUP BY, whatever the planner's statistics say (a NOT EXISTS over older
    events can turn into a scan per event on PostgreSQL right after a burst).
    """
    event = InboundEvent
    first = func.min(event.id)
    # The IN lets the database walk the (status, id) index instead of every event ever kept.
    pick = select(first).where(event.status.in_((EventStatus.NEW, EventStatus.PROCESSING)))
    return (pick.group_by(event.chat_key)
            .having(func.min(case((_ready(event, now_param()), event.id))) == first)
            .order_by(first))


def _query() -> ClaimQuery:
    event, now = InboundEvent, now_param()
    return ClaimQuery(
        event, _claimable(), _ready(event, now),
        values={"status": EventStatus.PROCESSING, "started_at": claimed_at(),
                "locked_until": bindparam("until"), "attempts": event.attempts + 1},
        returning=(event.id, event.workspace_id, event.channel_id, event.chat_key,
                   event.attempts, event.payload))


_QUERY = _query()


Prepare = Callable[[AsyncConnection, list[Any]], Awaitable[dict[int, Any]]]


async def claim(db: Database, limit: int, *, lease: float = LEASE_SECONDS, probe: bool = True,
                prepare: Prepare | None = None, via: Claimer | None = None) -> list[Claim]:
    """Claim up to ``limit`` events.

    ``probe=False`` skips the read-only look for work first: for callers that know there is
    some. ``prepare(conn, rows)`` runs in the claim's transaction; what it returns for an
    event id becomes that claim's ``prepared``.
    """
    prepared: dict[int, Any] = {}

    async def then(conn: AsyncConnection, rows: list[Any]) -> None:
        assert prepare is not None
        prepared.update(await prepare(conn, rows))

    rows = await claim_rows(db, _QUERY, limit, lease, probe=probe,
                            then=then if prepare is not None else None, via=via)
    return sorted((_claim(row, prepared.get(row[0])) for row in rows), key=lambda c: c.id)


def _claim(row: Any, prepared: Any) -> Claim:
    return Claim(row[0], row[1], row[2], row[3], row[4], row[5], prepared)

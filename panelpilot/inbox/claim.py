"""Claim inbound events for processing: the oldest unfinished event of each chat, once.

An event can be claimed only when no older event of the same chat is waiting or being
processed, so a chat's messages are handled in arrival order and never two at once, across
any number of workers. A claim is a lease: if the worker dies, the event is claimed again
when the lease runs out. PostgreSQL workers skip rows another worker is claiming right now;
SQLite serializes writers, which gives the same result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, and_, exists, or_, select, update
from sqlalchemy.orm import aliased

from panelpilot.db.base import utcnow
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


def _claimable(now: datetime, chat_key: str | None) -> Select[int]:
    event = InboundEvent
    older = aliased(InboundEvent)
    blocked = exists().where(
        older.chat_key == event.chat_key,
        older.id < event.id,
        older.status.in_((EventStatus.NEW, EventStatus.PROCESSING)),
    )
    # The IN lets the database walk the (status, id) index instead of every event ever kept.
    ready = and_(
        event.status.in_((EventStatus.NEW, EventStatus.PROCESSING)),
        or_(event.status == EventStatus.NEW, event.locked_until < now),
    )
    pick = select(event.id).where(ready, ~blocked).order_by(event.id)
    if chat_key is not None:
        pick = pick.where(event.chat_key == chat_key)
    return pick


async def claim(db: Database, limit: int, *, chat_key: str | None = None,
                lease: float = LEASE_SECONDS) -> list[Claim]:
    # A look without the write lock first: idle workers must not queue up for it (SQLite).
    async with db.read_session() as session:
        if (await session.execute(_claimable(utcnow(), chat_key).limit(1))).first() is None:
            return []
    async with db.platform_session() as session:
        # On SQLite the first statement waits for the write lock: take "now" after it, or a
        # claim that waited would carry a time from before the previous holder committed.
        await session.execute(select(1))
        now = utcnow()
        pick = _claimable(now, chat_key).limit(limit)
        if not db.is_sqlite:
            pick = pick.with_for_update(skip_locked=True)
        statement = (
            update(InboundEvent)
            .where(InboundEvent.id.in_(pick.scalar_subquery()))
            .values(status=EventStatus.PROCESSING, started_at=now,
                    locked_until=now + timedelta(seconds=lease),
                    attempts=InboundEvent.attempts + 1)
            .returning(InboundEvent.id, InboundEvent.workspace_id, InboundEvent.channel_id,
                       InboundEvent.chat_key, InboundEvent.attempts)
            .execution_options(synchronize_session=False)
        )
        rows = (await session.execute(statement)).all()
    return sorted((Claim(*row) for row in rows), key=lambda c: c.id)

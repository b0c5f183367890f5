"""Claim inbound events for processing: the oldest unfinished event of each chat, once.

An event can be claimed only when no older event of the same chat is waiting or being
processed, so a chat's messages are handled in arrival order and never two at once, across
any number of workers. A claim is a lease: if the worker dies, the event is claimed again
when the lease runs out. PostgreSQL workers skip rows another worker is claiming right now;
SQLite serializes writers, which gives the same result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Integer, Select, and_, bindparam, exists, or_, select, update
from sqlalchemy.orm import aliased

from panelpilot.db.base import UtcDateTime, utcnow
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


_older = aliased(InboundEvent, name="older")
_statements: dict[tuple[str, bool, bool], Any] = {}


def _claimable(by_chat: bool) -> Select[int]:
    """Claimable event ids, oldest first; parameters ``now`` (and ``chat_key``)."""
    event = InboundEvent
    now = bindparam("now", type_=UtcDateTime())
    blocked = exists().where(
        _older.chat_key == event.chat_key,
        _older.id < event.id,
        _older.status.in_((EventStatus.NEW, EventStatus.PROCESSING)),
    )
    # The IN lets the database walk the (status, id) index instead of every event ever kept.
    ready = and_(
        event.status.in_((EventStatus.NEW, EventStatus.PROCESSING)),
        or_(event.status == EventStatus.NEW, event.locked_until < now),
    )
    pick = select(event.id).where(ready, ~blocked).order_by(event.id)
    if by_chat:
        pick = pick.where(event.chat_key == bindparam("b_chat_key"))
    return pick


def _statement(what: str, by_chat: bool, sqlite: bool) -> Any:
    """The probe or the claim, built once (building SQLAlchemy expressions with an alias
    costs more than running them); ``limit`` is a parameter too."""
    key = (what, by_chat, sqlite)
    statement = _statements.get(key)
    if statement is not None:
        return statement
    if what == "probe":
        statement = _claimable(by_chat).limit(1)
    else:
        pick = _claimable(by_chat).limit(bindparam("limit", type_=Integer()))
        if not sqlite:
            pick = pick.with_for_update(skip_locked=True)
        statement = (
            update(InboundEvent)
            .where(InboundEvent.id.in_(pick.scalar_subquery()))
            .values(status=EventStatus.PROCESSING, started_at=bindparam("now"),
                    locked_until=bindparam("until"), attempts=InboundEvent.attempts + 1)
            .returning(InboundEvent.id, InboundEvent.workspace_id, InboundEvent.channel_id,
                       InboundEvent.chat_key, InboundEvent.attempts)
            .execution_options(synchronize_session=False)
        )
    _statements[key] = statement
    return statement


async def claim(db: Database, limit: int, *, chat_key: str | None = None,
                lease: float = LEASE_SECONDS) -> list[Claim]:
    by_chat = chat_key is not None
    params: dict[str, Any] = {"b_chat_key": chat_key} if by_chat else {}
    # A look without the write lock first: idle workers must not queue up for it (SQLite).
    async with db.read_session() as session:
        probe = _statement("probe", by_chat, db.is_sqlite)
        if (await session.execute(probe, {**params, "now": utcnow()})).first() is None:
            return []
    async with db.platform_session() as session:
        # On SQLite the first statement waits for the write lock: take "now" after it, or a
        # claim that waited would carry a time from before the previous holder committed.
        await session.execute(_SELECT_1)
        now = utcnow()
        rows = (await session.execute(_statement("claim", by_chat, db.is_sqlite), {
            **params, "now": now, "until": now + timedelta(seconds=lease), "limit": limit,
        })).all()
    return sorted((Claim(*row) for row in rows), key=lambda c: c.id)


_SELECT_1 = select(1)

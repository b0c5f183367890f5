"""Claim inbound events for processing: the oldest unfinished event of each chat, once.

An event can be claimed only when no older event of the same chat is waiting or being
processed, so a chat's messages are handled in arrival order and never two at once, across
any number of workers. A claim is a lease: if the worker dies, the event is claimed again
when the lease runs out. PostgreSQL workers skip rows another worker is claiming right now
(and check each row again as they take it); SQLite serializes writers, which gives the same
result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Integer, Select, and_, bindparam, case, func, or_, select, update

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


_statements: dict[tuple[str, bool], Any] = {}


def _ready(event: Any, now: Any) -> Any:
    """New, or claimed by a worker whose lease ran out."""
    return or_(event.status == EventStatus.NEW,
               and_(event.status == EventStatus.PROCESSING, event.locked_until < now))


def _claimable(by_chat: bool) -> Select[Any]:
    """Claimable event ids, oldest first; parameters ``now`` (and ``b_chat_key``).

    Per chat, the oldest unfinished event, when it is ready itself: one scan of the unfinished
    events and a GROUP BY, whatever the planner's statistics say (a NOT EXISTS over older
    events can turn into a scan per event on PostgreSQL right after a burst).
    """
    event = InboundEvent
    now = bindparam("now", type_=UtcDateTime())
    first = func.min(event.id)
    # The IN lets the database walk the (status, id) index instead of every event ever kept.
    pick = select(first).where(event.status.in_((EventStatus.NEW, EventStatus.PROCESSING)))
    if by_chat:
        pick = pick.where(event.chat_key == bindparam("b_chat_key"))
    return (pick.group_by(event.chat_key)
            .having(func.min(case((_ready(event, now), event.id))) == first)
            .order_by(first))


def _statement(what: str, by_chat: bool) -> Any:
    """The statements of a claim, built once (``limit`` and ``ids`` are parameters too):

    - ``probe``: is anything ready (read only);
    - ``claim``: pick and take in one statement (SQLite, where writers queue anyway);
    - ``pick`` then ``take``: on PostgreSQL the picked rows are taken with
      ``FOR UPDATE SKIP LOCKED``, so workers claiming at once skip each other's rows instead of
      waiting for them; ``take`` checks each row again, so none is ever taken twice.
    """
    key = (what, by_chat)
    statement = _statements.get(key)
    if statement is not None:
        return statement
    event = InboundEvent
    now = bindparam("now", type_=UtcDateTime())
    if what == "probe":
        statement = _claimable(by_chat).limit(1)
    elif what == "pick":
        statement = _claimable(by_chat).limit(bindparam("limit", type_=Integer()))
    else:
        if what == "claim":
            chosen = (_claimable(by_chat).limit(bindparam("limit", type_=Integer()))
                      .correlate(None))
        else:
            chosen = (select(event.id).where(event.id.in_(bindparam("ids", expanding=True)),
                                             _ready(event, now))
                      .with_for_update(skip_locked=True).correlate(None))
        statement = update(event).where(event.id.in_(chosen.scalar_subquery()), _ready(event, now))
        if what == "take":
            # The ids again on the row being updated: the planner then walks the primary key
            # instead of running the locking subquery once per row of the table.
            statement = statement.where(event.id.in_(bindparam("ids", expanding=True)))
        statement = (
            statement
            .values(status=EventStatus.PROCESSING, started_at=now,
                    locked_until=bindparam("until"), attempts=event.attempts + 1)
            .returning(event.id, event.workspace_id, event.channel_id, event.chat_key,
                       event.attempts)
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
        probe = _statement("probe", by_chat)
        if (await session.execute(probe, {**params, "now": utcnow()})).first() is None:
            return []
    async with db.platform_session() as session:
        # On SQLite the first statement waits for the write lock: take "now" after it, or a
        # claim that waited would carry a time from before the previous holder committed.
        await session.execute(_SELECT_1)
        now = utcnow()
        params.update(now=now, until=now + timedelta(seconds=lease), limit=limit)
        if db.is_sqlite:
            rows = (await session.execute(_statement("claim", by_chat), params)).all()
        else:
            ids = list((await session.execute(_statement("pick", by_chat), params)).scalars())
            if not ids:
                return []
            rows = (await session.execute(_statement("take", by_chat),
                                          {**params, "ids": ids})).all()
    return sorted((Claim(*row) for row in rows), key=lambda c: c.id)


_SELECT_1 = select(1)

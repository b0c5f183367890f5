"""Store inbound events: one insert, duplicates dropped by (channel, event key), then ack.

Webhooks and pollers both come here. Each event is normalized once on the way in only to learn
its chat (for in-order processing) and its kind; the raw payload is what is stored.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.channels.base import RawEvent
from panelpilot.channels.drivers import ChannelCreds, driver_for
from panelpilot.context import Context
from panelpilot.db import fast
from panelpilot.db.base import utcnow
from panelpilot.db.inserts import insert_ignoring
from panelpilot.inbox.models import EventStatus, InboundEvent
from panelpilot.runners.wakeup import INBOX, notify

TOUCH_EVERY = 10.0  # seconds between "last update seen" writes per channel


def chat_key(channel_id: int, chat_id: str | None, kind: str) -> str:
    return f"{channel_id}:{chat_id}" if chat_id else f"{channel_id}:~{kind}"


def rows_for(creds: ChannelCreds, events: list[RawEvent]) -> list[dict[str, Any]]:
    driver = driver_for(creds.kind)
    now = utcnow()
    rows = []
    seen: set[str] = set()
    for event in events:
        key = event.key[:200]
        if key in seen:
            continue
        seen.add(key)
        inbound = driver.normalize(event.payload, creds)
        rows.append({
            "workspace_id": creds.workspace_id, "channel_id": creds.id, "event_key": key,
            "chat_key": chat_key(creds.id, inbound.chat_id, inbound.kind)[:200],
            "kind": inbound.kind.value, "payload": event.payload, "status": EventStatus.NEW,
            "attempts": 0, "received_at": now, "outcome": "", "error": "",
        })
    return rows


async def store(
    ctx: Context, creds: ChannelCreds, events: list[RawEvent],
    also: Callable[[AsyncSession], Awaitable[None]] | None = None,
) -> int:
    """Insert the events (and ``also``, e.g. a poll offset, in the same transaction).

    Returns once they are committed. Concurrent callers share one transaction (group commit):
    under load a single commit acknowledges many webhooks.
    """
    rows = rows_for(creds, events)
    if not rows and also is None:
        return 0
    batcher: _Batcher = ctx.singleton("ingest_batcher", lambda: _Batcher(ctx))
    await batcher.submit(creds.id, rows, also)
    wake_workers(ctx)
    return len(rows)


Also = Callable[[AsyncSession], Awaitable[None]] | None

LANES = 2  # concurrent group commits on PostgreSQL


class _Batcher:
    """Group commits of stored events, in lanes on PostgreSQL.

    One lane commits one batch at a time, and a batch waits for its commit's round trips;
    with several lanes the next batch does not wait for the last one's. A chat's events
    always take the same lane, whose commits are in order: a chat's later event is never
    visible before an earlier one. SQLite has one writer anyway: one lane. Events with
    ``also`` (a poller's offset, which must commit with exactly those events) take the
    first lane whole.
    """

    def __init__(self, ctx: Context) -> None:
        self.lanes = [_Lane(ctx) for _ in range(1 if ctx.db.is_sqlite else LANES)]

    async def submit(self, channel_id: int, rows: list[dict[str, Any]], also: Also) -> None:
        if also is not None or len(self.lanes) == 1:
            await self.lanes[0].submit(channel_id, rows, also)
            return
        parts: dict[int, list[dict[str, Any]]] = {}
        for row in rows:
            parts.setdefault(hash(row["chat_key"]) % len(self.lanes), []).append(row)
        # A part that fails fails the whole call; the sender posts again and the parts
        # already stored are dropped as duplicates.
        await asyncio.gather(*(self.lanes[lane].submit(channel_id, part, None)
                               for lane, part in parts.items()))


class _Lane:
    MAX_ROWS = 1000

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.kept = ctx.db.kept(urgent=True)  # one commit at a time: one connection
        self.pending: list[tuple[int, list[dict[str, Any]], Also, asyncio.Future[None]]] = []
        self.flushing = False

    async def submit(self, channel_id: int, rows: list[dict[str, Any]], also: Also) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.pending.append((channel_id, rows, also, future))
        if not self.flushing:
            self.flushing = True
            asyncio.get_running_loop().create_task(self._flush_all())
        await future

    async def _flush_all(self) -> None:
        try:
            while self.pending:
                batch: list[tuple[int, list[dict[str, Any]], Also, asyncio.Future[None]]] = []
                size = 0
                while self.pending and (not batch or size + len(self.pending[0][1])
                                        <= self.MAX_ROWS):
                    item = self.pending.pop(0)
                    batch.append(item)
                    size += len(item[1])
                try:
                    await self._commit(batch)
                except Exception as exc:
                    for *_, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                else:
                    for *_, future in batch:
                        if not future.done():
                            future.set_result(None)
        finally:
            self.flushing = False

    async def _commit(
        self, batch: list[tuple[int, list[dict[str, Any]], Also, asyncio.Future[None]]]
    ) -> None:
        unique: dict[tuple[int, str], dict[str, Any]] = {}
        for _, rows, _, _ in batch:
            for row in rows:
                unique.setdefault((row["channel_id"], row["event_key"]), row)
        async with self.kept.session() as session:
            if unique:
                await _insert_ignore_many(session, list(unique.values()))
                await notify(self.ctx, session, INBOX)
            for _, _, also, _ in batch:
                if also is not None:
                    await also(session)
            for channel_id in {item[0] for item in batch}:
                await _touch_channel(self.ctx, session, channel_id)


async def _insert_ignore_many(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    # Run as an executemany with the rows as parameters: compiled once and cached (a
    # multi-row VALUES would be compiled anew for every batch size).
    conn = await session.connection()
    await fast.run(conn, insert_ignoring(InboundEvent, conn.dialect.name), rows)


async def _touch_channel(ctx: Context, session: AsyncSession, channel_id: int) -> None:
    from sqlalchemy import update

    from panelpilot.channels.models import ChannelAccount

    last: dict[int, float] = ctx.singleton("channel_touched", dict)
    now = time.monotonic()
    if now - last.get(channel_id, 0.0) < TOUCH_EVERY:
        return
    last[channel_id] = now
    await session.execute(update(ChannelAccount).where(ChannelAccount.id == channel_id)
                          .values(last_update_at=utcnow())
                          .execution_options(synchronize_session=False))


def wake_workers(ctx: Context) -> None:
    event: asyncio.Event = ctx.singleton("inbox_signal", asyncio.Event)
    event.set()

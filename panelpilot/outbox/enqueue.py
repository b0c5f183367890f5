"""Put messages in the outbox: split at the channel's limit, idempotent by key, one row each."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from panelpilot.channels.base import Keyboard
from panelpilot.context import Context
from panelpilot.db import fast
from panelpilot.db.base import utcnow
from panelpilot.db.inserts import insert_ignoring
from panelpilot.outbox.models import OutboundMessage, SendStatus
from panelpilot.runners.lease import insert_ignore

LIMITS = {"telegram": 4096, "greenapi": 20000, "meta": 4096}


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def measure_for(kind: str) -> Callable[[str], int]:
    # Telegram counts message length in UTF-16 code units; an emoji is two of them.
    return utf16_len if kind == "telegram" else len


def split_text(text: str, limit: int, measure: Callable[[str], int] = len) -> list[str]:
    """Cut ``text`` into parts within ``limit``: on line breaks, else spaces, else anywhere."""
    if measure(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for line in text.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if measure(candidate) <= limit:
            current = candidate
            continue
        if current:
            parts.append(current)
            current = ""
        while measure(line) > limit:
            cut = _cut(line, limit, measure)
            parts.append(line[:cut].rstrip())
            line = line[cut:].lstrip()
        current = line
    if current:
        parts.append(current)
    return [p for p in parts if p.strip()] or [text[:limit]]


def _cut(line: str, limit: int, measure: Callable[[str], int]) -> int:
    lo, hi = 1, len(line)
    while lo < hi:  # the longest prefix that fits
        mid = (lo + hi + 1) // 2
        if measure(line[:mid]) <= limit:
            lo = mid
        else:
            hi = mid - 1
    space = line.rfind(" ", 0, lo)
    return space if space > lo // 2 else lo


def keyboard_json(keyboard: Keyboard | None) -> list[Any] | None:
    if not keyboard:
        return None
    return [[{k: v for k, v in asdict(b).items() if v is not None} for b in row]
            for row in keyboard]


async def enqueue(
    session: AsyncSession, workspace_id: int, *, channel_id: int, kind: str, chat_id: str,
    text: str, key: str, purpose: str = "reply", keyboard: Keyboard | None = None,
    reply_to: str | None = None, source_event_id: int | None = None,
    message_kind: str = "text", max_attempts: int = 8,
) -> int:
    """Queue a message (in the caller's transaction); returns how many new rows were made.

    The same ``key`` on the same channel never makes a second message, however often asked.
    """
    parts = [text] if message_kind != "text" else split_text(
        text, LIMITS.get(kind, 4096), measure_for(kind))
    made = 0
    now = utcnow()
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        row_key = key if len(parts) == 1 else f"{key}#{i + 1}"
        made += await insert_ignore(session, OutboundMessage, {
            "workspace_id": workspace_id, "channel_id": channel_id, "chat_id": chat_id,
            "kind": message_kind, "purpose": purpose, "text": part,
            "keyboard": keyboard_json(keyboard) if last else None,
            "reply_to": reply_to if i == 0 else None, "idempotency_key": row_key[:200],
            "status": SendStatus.QUEUED, "attempts": 0, "max_attempts": max_attempts,
            "next_attempt_at": now, "last_error": "", "error_reason": "",
            "migrated_resend": False, "source_event_id": source_event_id, "created_at": now,
        })
    return made


_PENDING_IN_CHATS = (select(OutboundMessage.channel_id, OutboundMessage.chat_id)
                     .where(OutboundMessage.channel_id.in_(bindparam("channel_ids",
                                                                     expanding=True)),
                            OutboundMessage.chat_id.in_(bindparam("chat_ids", expanding=True)),
                            OutboundMessage.status.in_((SendStatus.QUEUED, SendStatus.SENDING)))
                     .distinct())


@dataclass(frozen=True)
class Claimed:
    """A text to queue already claimed (see ``enqueue_claimed``)."""

    workspace_id: int
    channel_id: int
    kind: str  # the channel's kind
    chat_id: str
    text: str
    key: str
    keyboard: Keyboard | None = None
    reply_to: str | None = None
    source_event_id: int | None = None
    max_attempts: int = 8


async def enqueue_claimed(conn: AsyncConnection, texts: Sequence[Claimed],
                          lease_until: datetime) -> list[int | None]:
    """Queue texts already claimed by this process's sender (their first attempt), which then
    sends them without a claim of their own; the lease is the same as a claim's, so a process
    that dies leaves them to the others. Only a text that fits in one message and has no older
    message of its chat waiting or being sent (a chat's messages go in order) can be taken
    this way, the first of its chat here: for each text its id, or None (then ``enqueue`` it;
    also None when its key was queued before). Three statements for any number of texts.
    """
    fitting = {i: t for i, t in enumerate(texts)
               if measure_for(t.kind)(t.text) <= LIMITS.get(t.kind, 4096)}
    if not fitting:
        return [None for _ in texts]
    busy = set(await fast.run(conn, _PENDING_IN_CHATS, {
        "channel_ids": sorted({t.channel_id for t in fitting.values()}),
        "chat_ids": sorted({t.chat_id for t in fitting.values()})}))
    taken: dict[int, Claimed] = {}  # by place in ``texts``
    for i, text in fitting.items():
        if (text.channel_id, text.chat_id) not in busy:
            busy.add((text.channel_id, text.chat_id))
            taken[i] = text
    if not taken:
        return [None for _ in texts]
    now = utcnow()
    statement = insert_ignoring(OutboundMessage, conn.dialect.name, OutboundMessage.channel_id,
                                OutboundMessage.idempotency_key, OutboundMessage.id)
    made = await fast.run(conn, statement, [{
        "workspace_id": t.workspace_id, "channel_id": t.channel_id, "chat_id": t.chat_id,
        "kind": "text", "purpose": "reply", "text": t.text, "keyboard": keyboard_json(t.keyboard),
        "reply_to": t.reply_to, "idempotency_key": t.key[:200], "status": SendStatus.SENDING,
        "attempts": 1, "max_attempts": t.max_attempts, "next_attempt_at": now,
        "locked_until": lease_until, "last_error": "", "error_reason": "",
        "migrated_resend": False, "source_event_id": t.source_event_id, "created_at": now,
    } for t in taken.values()])
    ids = {(channel_id, key): pk for channel_id, key, pk in made}
    return [ids.get((t.channel_id, t.key[:200])) if i in taken else None
            for i, t in enumerate(texts)]


def wake_senders(ctx: Context) -> None:
    """Tell this process's sender there is work (other processes find it by polling)."""
    event: asyncio.Event = ctx.singleton("outbox_signal", asyncio.Event)
    event.set()

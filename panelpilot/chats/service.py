"""Find, remember and update chats: roles, reachability, and id changes (group migration)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, literal, select, union_all, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from panelpilot.chats.models import Chat, ChatAlias, ChatRole
from panelpilot.db import fast
from panelpilot.db.base import utcnow
from panelpilot.db.inserts import insert_ignoring
from panelpilot.errors import Invalid
from panelpilot.runners.lease import insert_ignore


async def find(session: AsyncSession, channel_id: int, chat_id: str) -> Chat | None:
    """The chat with this platform id, or that had it before a migration."""
    chat = (await session.execute(
        select(Chat).where(Chat.channel_id == channel_id, Chat.chat_id == chat_id))).scalar()
    if chat is not None:
        return chat
    pk = (await session.execute(
        select(ChatAlias.chat_pk).where(ChatAlias.channel_id == channel_id,
                                        ChatAlias.alias == chat_id))).scalar()
    return None if pk is None else await session.get(Chat, pk)


@dataclass(frozen=True)
class ChatState:
    """A chat as the spine's hot path reads it (plain values, no ORM object)."""

    pk: int
    chat_id: str
    chat_type: str
    role: str
    title: str
    reachable: bool
    unreachable_reason: str
    last_inbound_at: datetime | None


_STATE = (Chat.id, Chat.chat_id, Chat.chat_type, Chat.role, Chat.title, Chat.reachable,
          Chat.unreachable_reason, Chat.last_inbound_at)
# The chats by their ids, and after them the chats an earlier id (an alias) leads to: one
# statement, built once.
_MANY = union_all(
    select(Chat.channel_id, Chat.chat_id.label("asked"), literal(0).label("by_alias"), *_STATE)
    .where(Chat.channel_id.in_(bindparam("channels", expanding=True)),
           Chat.chat_id.in_(bindparam("chat_ids", expanding=True))),
    select(ChatAlias.channel_id, ChatAlias.alias, literal(1), *_STATE)
    .join(Chat, Chat.id == ChatAlias.chat_pk)
    .where(ChatAlias.channel_id.in_(bindparam("channels", expanding=True)),
           ChatAlias.alias.in_(bindparam("chat_ids", expanding=True))))


def _state(values: Any) -> ChatState:
    return ChatState(*values)


async def find_many(conn: AsyncConnection | AsyncSession,
                    wanted: set[tuple[int, str]]) -> dict[tuple[int, str], ChatState]:
    """Many chats at once by (channel id, chat id), also by an earlier id (as ``find``)."""
    if not wanted:
        return {}
    found: dict[tuple[int, str], ChatState] = {}
    rows = await fast.run(conn, _MANY, {"channels": sorted({ch for ch, _ in wanted}),
                                      "chat_ids": sorted({chat for _, chat in wanted})})
    # A chat's own id wins over an alias that happens to have the same value.
    for row in sorted(rows, key=lambda r: r[2]):
        key = (row[0], row[1])
        if key in wanted and key not in found:
            found[key] = _state(row[3:])
    return found


@dataclass(frozen=True)
class NewChat:
    workspace_id: int
    channel_id: int
    chat_id: str
    chat_type: str
    title: str | None


async def insert_new(
    session: AsyncSession | AsyncConnection, workspace_id: int, channel_id: int, chat_id: str, *,
    chat_type: str, title: str | None, when: datetime | None = None,
) -> int | None:
    """Remember a chat never seen before, in one statement; its id, or None if it exists
    already (then ``touch`` it)."""
    conn = session if isinstance(session, AsyncConnection) else await session.connection()
    made = await insert_many_new(conn, [NewChat(workspace_id, channel_id, chat_id, chat_type,
                                                title)], when)
    return made.get((channel_id, chat_id))


async def insert_many_new(conn: AsyncConnection, new: Sequence[NewChat],
                          when: datetime | None = None) -> dict[tuple[int, str], int]:
    """``insert_new`` for many chats in one executemany (one round trip on PostgreSQL): the
    ids of those made, by (channel, chat id); the others existed already."""
    now = when or utcnow()
    # In key order: transactions making the same chats at once wait for each other, never
    # each for the other.
    ordered = sorted(new, key=lambda c: (c.channel_id, c.chat_id))
    made = await fast.run(conn, _INSERT_NEW[conn.dialect.name], [{
        "workspace_id": c.workspace_id, "channel_id": c.channel_id, "chat_id": c.chat_id,
        "chat_type": c.chat_type, "role": ChatRole.UNKNOWN, "title": (c.title or "")[:200],
        "reachable": True, "unreachable_reason": "", "last_inbound_at": now,
        "created_at": now} for c in ordered])
    return {(channel_id, chat_id): pk for channel_id, chat_id, pk in made}


_INSERT_NEW = {dialect: insert_ignoring(Chat, dialect, Chat.channel_id, Chat.chat_id, Chat.id)
               for dialect in ("sqlite", "postgresql")}


async def touch(
    session: AsyncSession, workspace_id: int, channel_id: int, chat_id: str, *,
    chat_type: str | None, title: str | None, when: datetime | None = None,
) -> Chat:
    """Remember a chat that just wrote to us; a person who writes is reachable again."""
    chat = await find(session, channel_id, chat_id)
    if chat is None:
        await insert_ignore(session, Chat, {
            "workspace_id": workspace_id, "channel_id": channel_id, "chat_id": chat_id,
            "chat_type": chat_type or "private", "role": ChatRole.UNKNOWN,
            "title": (title or "")[:200], "reachable": True, "unreachable_reason": "",
            "created_at": utcnow()})
        chat = await find(session, channel_id, chat_id)
        assert chat is not None
    chat.last_inbound_at = when or utcnow()
    if title and chat.title != title[:200]:
        chat.title = title[:200]
    if not chat.reachable and chat.chat_type == "private":
        chat.reachable, chat.unreachable_reason = True, ""
    return chat


async def set_reachable(
    session: AsyncSession, workspace_id: int, channel_id: int, chat_id: str, reachable: bool,
    reason: str = "", chat_type: str | None = None,
) -> None:
    chat = await find(session, channel_id, chat_id)
    if chat is None:
        if reachable:
            return
        chat = await touch(session, workspace_id, channel_id, chat_id, chat_type=chat_type,
                           title=None)
        chat.last_inbound_at = None
    chat.reachable = reachable
    chat.unreachable_reason = "" if reachable else reason[:200]


async def migrate(
    session: AsyncSession, workspace_id: int, channel_id: int, old_id: str, new_id: str
) -> Chat | None:
    """Move a group to its new id, keeping its role and history; safe to run twice.

    Telegram sends two service messages (one in the old group, one in the new supergroup) in no
    fixed order, and messages from the new supergroup may even arrive before either: whichever
    comes first re-keys the chat, and a row made meanwhile for the new id is folded into it.
    """
    from panelpilot.outbox.models import OutboundMessage

    old = await find(session, channel_id, old_id)
    new = (await session.execute(
        select(Chat).where(Chat.channel_id == channel_id, Chat.chat_id == new_id))).scalar()
    if old is None and new is None:
        return None
    if old is not None and new is not None and old.id != new.id:
        if old.role == ChatRole.UNKNOWN and new.role != ChatRole.UNKNOWN:
            old.role = new.role
        if new.last_inbound_at and (old.last_inbound_at is None
                                    or new.last_inbound_at > old.last_inbound_at):
            old.last_inbound_at = new.last_inbound_at
        await session.execute(update(ChatAlias).where(ChatAlias.chat_pk == new.id)
                              .values(chat_pk=old.id)
                              .execution_options(synchronize_session=False))
        await session.delete(new)
        await session.flush()
    keep = old or new
    assert keep is not None
    if keep.chat_id != new_id:
        keep.chat_id = new_id
        keep.chat_type = "group"
    await insert_ignore(session, ChatAlias, {"workspace_id": workspace_id,
                                             "channel_id": channel_id, "alias": old_id,
                                             "chat_pk": keep.id, "created_at": utcnow()})
    # Queued sends to the old id go to the new one.
    await session.execute(
        update(OutboundMessage)
        .where(OutboundMessage.channel_id == channel_id, OutboundMessage.chat_id == old_id,
               OutboundMessage.status.in_(("queued", "sending")))
        .values(chat_id=new_id).execution_options(synchronize_session=False))
    return keep


def check_role(role: str) -> ChatRole:
    try:
        return ChatRole(role)
    except ValueError:
        raise Invalid(f"role is one of: {', '.join(r.value for r in ChatRole)}",
                      field="role") from None

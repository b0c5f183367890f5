"""What a turn needs before it starts, read for many events in one look: the chat (by its id or
an earlier one), its workspace, its open flow and the modules' per-chat values.

The inbox workers get it inside the claim's own transaction (``preparer``), where chats that
never wrote before are also written: a claimed batch costs one transaction, whatever its size.
A turn started some other way (``process`` called directly) reads it through ``load``, which
answers concurrent callers with one read session (``GroupRead``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from panelpilot.channels.base import Inbound, InboundKind
from panelpilot.channels.drivers import ChannelCreds, driver_for
from panelpilot.channels.models import ChannelStatus
from panelpilot.channels.service import load_creds
from panelpilot.chats import service as chats
from panelpilot.chats.models import ChatRole
from panelpilot.context import Context
from panelpilot.conversation.models import FlowState
from panelpilot.conversation.modules import chat_context_queries
from panelpilot.conversation.turn import ChatInfo
from panelpilot.db import fast
from panelpilot.db.groupcommit import GroupCommit, GroupRead
from panelpilot.tenancy.models import Workspace

# (workspace id, channel id, chat id)
Key = tuple[int, int, str]


@dataclass(frozen=True)
class FlowRow:
    module: str
    step: str
    data: dict[str, Any]
    expires_at: datetime


@dataclass(frozen=True)
class TurnContext:
    chat: ChatInfo | None  # None: the chat never wrote before
    workspace_slug: str
    workspace_settings: dict[str, Any]
    config_version: int
    flow: FlowRow | None
    chat_context: dict[str, Any]  # the modules' per-chat values (Module.chat_context)


def _expanding(name: str) -> Any:
    return bindparam(name, expanding=True)


# Built once: building SQLAlchemy statements costs more than running them.
_WORKSPACES = select(Workspace.id, Workspace.slug, Workspace.settings,
                     Workspace.config_version).where(Workspace.id.in_(_expanding("ids")))
_FLOWS = select(FlowState.chat_pk, FlowState.module, FlowState.step, FlowState.data,
                FlowState.expires_at).where(FlowState.chat_pk.in_(_expanding("pks")))


async def _fetch(session: AsyncSession | AsyncConnection,
                 keys: list[Key]) -> dict[Key, TurnContext]:
    found = {key: ChatInfo(c.pk, c.chat_id, c.chat_type, c.role, c.title, c.reachable)
             for key, c in (await chats.find_many(session, {k[1:] for k in keys})).items()}
    spaces = {row[0]: row[1:] for row in await fast.run(
        session, _WORKSPACES, {"ids": sorted({k[0] for k in keys})})}
    pks = sorted({chat.pk for chat in found.values()})
    flows: dict[int, FlowRow] = {}
    extras: dict[int, dict[str, Any]] = {}
    if pks:
        flows = {row[0]: FlowRow(*row[1:]) for row in await fast.run(
            session, _FLOWS, {"pks": pks})}
        for name, query in chat_context_queries().items():
            for pk, value in await fast.run(session, query, {"pks": pks}):
                extras.setdefault(pk, {})[name] = value
    contexts = {}
    for key in keys:
        if key[0] not in spaces:
            continue
        known = found.get((key[1], key[2]))
        slug, settings, version = spaces[key[0]]
        contexts[key] = TurnContext(
            known, slug, dict(settings or {}), version, flows.get(known.pk) if known else None,
            dict(extras.get(known.pk, {})) if known else {})
    return contexts


def _reader(ctx: Context) -> GroupRead[Key, TurnContext]:
    reader: GroupRead[Key, TurnContext] = ctx.singleton(
        "turn_context_reader", lambda: GroupRead(ctx.db, _fetch))
    return reader


def writes(ctx: Context) -> GroupCommit:
    """The shared transactions of the inbox workers: turn results, new chats, event marks."""
    group: GroupCommit = ctx.singleton("inbox_writes", lambda: GroupCommit(ctx.db))
    return group


async def load(ctx: Context, workspace_id: int, channel_id: int,
               chat_id: str) -> TurnContext | None:
    """The context of a turn in this chat; None when the workspace is gone."""
    return await _reader(ctx).get((workspace_id, channel_id, chat_id))


@dataclass(frozen=True)
class Prepared:
    """A claimed event, normalized, with its turn's context when it is a person's message."""

    inbound: Inbound
    context: TurnContext | None  # None: not a turn (a status, an echo …), or no workspace


def _turn_key(creds: ChannelCreds, inbound: Inbound) -> tuple[int, str] | None:
    if (creds.status == ChannelStatus.DISABLED or not inbound.chat_id
            or inbound.kind not in (InboundKind.MESSAGE, InboundKind.CALLBACK)):
        return None
    return creds.id, inbound.chat_id


def preparer(ctx: Context) -> Callable[[AsyncConnection, list[Any]], Awaitable[dict[int, Any]]]:
    """The claim hook of the inbox workers: normalize each claimed event, read the turns'
    contexts and write the chats that are new, in the claim's transaction."""

    async def prepare(conn: AsyncConnection, rows: list[Any]) -> dict[int, Any]:
        events: dict[int, tuple[int, Inbound, Key | None]] = {}
        for event_id, workspace_id, channel_id, _, _, payload in rows:
            creds = await load_creds(ctx, channel_id=channel_id)
            if creds is None or payload is None:
                continue
            inbound = driver_for(creds.kind).normalize(payload, creds)
            turn = _turn_key(creds, inbound)
            events[event_id] = (workspace_id, inbound, (workspace_id, *turn) if turn else None)
        contexts = await _fetch(conn, sorted({key for _, _, key in events.values() if key}))
        new: dict[Key, chats.NewChat] = {}
        for workspace_id, inbound, key in events.values():
            found = contexts.get(key) if key else None
            if key is None or found is None or found.chat is not None or key in new:
                continue
            new[key] = chats.NewChat(workspace_id, key[1], key[2], inbound.chat_type or "private",
                                     (inbound.chat_title or inbound.sender_name or "")[:200])
        made = await chats.insert_many_new(conn, list(new.values())) if new else {}
        for key, chat in new.items():
            pk = made.get((chat.channel_id, chat.chat_id))
            if pk is not None:
                contexts[key] = dataclasses.replace(contexts[key], chat=ChatInfo(
                    pk, chat.chat_id, chat.chat_type, ChatRole.UNKNOWN, chat.title or "", True))
        return {event_id: Prepared(inbound, contexts.get(key) if key else None)
                for event_id, (_, inbound, key) in events.items()}

    return prepare


async def remember_chat(ctx: Context, workspace_id: int, channel_id: int, chat_id: str, *,
                        chat_type: str, title: str | None, known: bool) -> ChatInfo:
    """Write a chat that is new (``known`` False) or a person back after blocking us, and
    return it."""
    made: list[ChatInfo] = []

    async def write(session: AsyncSession) -> None:
        if not known:
            pk = await chats.insert_new(session, workspace_id, channel_id, chat_id,
                                        chat_type=chat_type, title=title)
            if pk is not None:
                made[:] = [ChatInfo(pk, chat_id, chat_type, ChatRole.UNKNOWN,
                                   (title or "")[:200], True)]
                return
        chat = await chats.touch(session, workspace_id, channel_id, chat_id,
                                 chat_type=chat_type, title=title)
        await session.flush()
        made[:] = [ChatInfo(chat.id, chat.chat_id, chat.chat_type, chat.role, chat.title,
                           chat.reachable)]

    await writes(ctx).run(write, workspace_id)
    return made[0]

"""What a turn needs before it starts, read for many events in one look: the chat (by its id or
an earlier one), its workspace and its open flow; and new chats, written together.

Workers claim events in batches and start their turns at the same moment, so these lookups
arrive together and ``GroupRead`` answers them with three queries in one read session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.chats import service as chats
from panelpilot.chats.models import Chat, ChatAlias, ChatRole
from panelpilot.context import Context
from panelpilot.conversation.models import FlowState
from panelpilot.conversation.modules import chat_context_queries
from panelpilot.db.groupcommit import GroupCommit, GroupRead
from panelpilot.tenancy.models import Workspace

# (workspace id, channel id, chat id)
Key = tuple[int, int, str]


@dataclass(frozen=True)
class ChatRow:
    pk: int
    chat_id: str
    chat_type: str
    role: str
    title: str
    reachable: bool


@dataclass(frozen=True)
class FlowRow:
    module: str
    step: str
    data: dict[str, Any]
    expires_at: datetime


@dataclass(frozen=True)
class TurnContext:
    chat: ChatRow | None  # None: the chat never wrote before
    workspace_slug: str
    workspace_settings: dict[str, Any]
    config_version: int
    flow: FlowRow | None
    chat_context: dict[str, Any]  # the modules' per-chat values (Module.chat_context)


def _expanding(name: str) -> Any:
    return bindparam(name, expanding=True)


_CHAT_COLUMNS = (Chat.id, Chat.chat_id, Chat.chat_type, Chat.role, Chat.title, Chat.reachable)
# Built once: building SQLAlchemy statements costs more than running them.
_CHATS = select(Chat.channel_id, *_CHAT_COLUMNS).where(
    Chat.channel_id.in_(_expanding("channels")), Chat.chat_id.in_(_expanding("chat_ids")))
_ALIASES = select(ChatAlias.channel_id, ChatAlias.alias, *_CHAT_COLUMNS).join(
    Chat, Chat.id == ChatAlias.chat_pk).where(
    ChatAlias.channel_id.in_(_expanding("channels")), ChatAlias.alias.in_(_expanding("aliases")))
_WORKSPACES = select(Workspace.id, Workspace.slug, Workspace.settings,
                     Workspace.config_version).where(Workspace.id.in_(_expanding("ids")))
_FLOWS = select(FlowState.chat_pk, FlowState.module, FlowState.step, FlowState.data,
                FlowState.expires_at).where(FlowState.chat_pk.in_(_expanding("pks")))


async def _fetch(session: AsyncSession, keys: list[Key]) -> dict[Key, TurnContext]:
    channels = sorted({k[1] for k in keys})
    found: dict[tuple[int, str], ChatRow] = {}
    rows = await session.execute(_CHATS, {"channels": channels,
                                          "chat_ids": sorted({k[2] for k in keys})})
    for row in rows:
        found[(row[0], row[2])] = ChatRow(*row[1:])
    missing = sorted({k[2] for k in keys if (k[1], k[2]) not in found})
    if missing:
        # An earlier id of a chat (a group before it became a supergroup) leads to the chat.
        for alias in await session.execute(_ALIASES, {"channels": channels,
                                                      "aliases": missing}):
            found[(alias[0], alias[1])] = ChatRow(*alias[2:])
    spaces = {row[0]: row[1:] for row in await session.execute(
        _WORKSPACES, {"ids": sorted({k[0] for k in keys})})}
    pks = sorted({chat.pk for chat in found.values()})
    flows: dict[int, FlowRow] = {}
    extras: dict[int, dict[str, Any]] = {}
    if pks:
        flows = {row[0]: FlowRow(*row[1:]) for row in await session.execute(
            _FLOWS, {"pks": pks})}
        for name, query in chat_context_queries().items():
            for pk, value in await session.execute(query, {"pks": pks}):
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


async def remember_chat(ctx: Context, workspace_id: int, channel_id: int, chat_id: str, *,
                        chat_type: str, title: str | None, known: bool) -> ChatRow:
    """Write a chat that is new (``known`` False) or a person back after blocking us, and
    return it."""
    made: list[ChatRow] = []

    async def write(session: AsyncSession) -> None:
        if not known:
            pk = await chats.insert_new(session, workspace_id, channel_id, chat_id,
                                        chat_type=chat_type, title=title)
            if pk is not None:
                made[:] = [ChatRow(pk, chat_id, chat_type, ChatRole.UNKNOWN,
                                   (title or "")[:200], True)]
                return
        chat = await chats.touch(session, workspace_id, channel_id, chat_id,
                                 chat_type=chat_type, title=title)
        await session.flush()
        made[:] = [ChatRow(chat.id, chat.chat_id, chat.chat_type, chat.role, chat.title,
                           chat.reachable)]

    await writes(ctx).run(write, workspace_id)
    return made[0]

"""Linked chats as admins read them: the list with search and filters, the chats that could be
linked, and one chat's link with its last commands and link history.

The console and the JSON API both read through here; linking and unlinking themselves are
``admin.link_chat`` and ``linking.unlink``. Every query runs in a workspace-scoped session.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.channels.models import ChannelAccount
from panelpilot.chats.models import Chat, ChatRole
from panelpilot.errors import NotFound
from panelpilot.orders.models import CommandLog, CommandOrder, LinkedChat

# Who made a link, as the ``source`` column says it.
SOURCES = {
    "file": "Workspace file",
    "api": "Admin (console or API)",
    "support": "Support chat",
    "self": "Customer (one-time code)",
    "demo": "Demo set-up",
}
LINKABLE_ROLES = (ChatRole.CUSTOMER, ChatRole.CUSTOMER_GROUP, ChatRole.UNKNOWN)
RECENT_COMMANDS = 20
HISTORY_LIMIT = 50


@dataclass
class LinkRow:
    """One linked chat with what a list shows of its chat and channel (never credentials)."""

    id: int
    chat_pk: int
    channel: str
    channel_kind: str
    chat_id: str
    chat_type: str
    title: str
    username: str
    source: str
    linked_by: str
    created_at: datetime

    @property
    def source_label(self) -> str:
        return SOURCES.get(self.source, self.source)

    @property
    def managed_by_file(self) -> bool:
        return self.source == "file"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "chat_pk": self.chat_pk, "channel": self.channel,
                "chat_id": self.chat_id, "chat_type": self.chat_type, "title": self.title,
                "username": self.username, "source": self.source, "linked_by": self.linked_by,
                "created_at": self.created_at, "managed_by_file": self.managed_by_file}


def _query() -> Any:
    return (select(LinkedChat, Chat, ChannelAccount.key, ChannelAccount.kind)
            .join(Chat, Chat.id == LinkedChat.chat_pk)
            .join(ChannelAccount, ChannelAccount.id == Chat.channel_id))


def _row(link: LinkedChat, chat: Chat, key: str, kind: str) -> LinkRow:
    return LinkRow(link.id, chat.id, key, kind, chat.chat_id, chat.chat_type, chat.title,
                   link.username, link.source, link.linked_by, link.created_at)


async def list_links(session: AsyncSession, *, q: str = "", username: str = "",
                     channel: str = "", source: str = "", before: int | None = None,
                     limit: int = 100) -> list[LinkRow]:
    """Links, newest first: ``q`` is part of a username, chat id or chat title; ``username``
    an exact username (any case); ``channel`` a channel key; ``before`` a link id (paging)."""
    query = _query().order_by(LinkedChat.id.desc()).limit(limit)
    if q:
        pattern = f"%{q.lower()}%"
        query = query.where(func.lower(LinkedChat.username).like(pattern)
                            | func.lower(Chat.chat_id).like(pattern)
                            | func.lower(Chat.title).like(pattern))
    if username:
        query = query.where(func.lower(LinkedChat.username) == username.lower())
    if channel:
        query = query.where(ChannelAccount.key == channel)
    if source:
        query = query.where(LinkedChat.source == source)
    if before is not None:
        query = query.where(LinkedChat.id < before)
    return [_row(*r) for r in (await session.execute(query)).all()]


async def count_links(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(LinkedChat))).scalar_one())


async def link_by_id(session: AsyncSession, link_id: int) -> LinkRow:
    found = (await session.execute(_query().where(LinkedChat.id == link_id))).first()
    if found is None:
        raise NotFound("no such linked chat")
    return _row(*found)


async def link_of_chat(session: AsyncSession, chat_pk: int) -> LinkRow | None:
    found = (await session.execute(_query().where(LinkedChat.chat_pk == chat_pk))).first()
    return _row(*found) if found else None


@dataclass
class KnownChat:
    """A chat of the workspace that may be linked (a customer's chat or one not decided yet)."""

    pk: int
    channel: str
    chat_id: str
    chat_type: str
    title: str
    linked_to: str | None

    @property
    def label(self) -> str:
        name = f"{self.title} ({self.chat_id})" if self.title else self.chat_id
        linked = f" – linked to {self.linked_to}" if self.linked_to else ""
        return f"{name} on {self.channel}{linked}"


async def known_chats(session: AsyncSession, limit: int = 200) -> list[KnownChat]:
    """Chats that could be linked, those that wrote last first (provider groups and support
    chats are left out: they can never be linked to a customer)."""
    rows = await session.execute(
        select(Chat, ChannelAccount.key, LinkedChat.username)
        .join(ChannelAccount, ChannelAccount.id == Chat.channel_id)
        .outerjoin(LinkedChat, LinkedChat.chat_pk == Chat.id)
        .where(Chat.role.in_([r.value for r in LINKABLE_ROLES]))
        .order_by(Chat.last_inbound_at.desc().nulls_last(), Chat.id.desc()).limit(limit))
    return [KnownChat(c.id, key, c.chat_id, c.chat_type, c.title, username)
            for c, key, username in rows.all()]


async def linked_usernames(session: AsyncSession, limit: int = 500) -> list[tuple[str, str]]:
    """Each linked username once, with the chats it is linked from (for choosing one)."""
    rows = await session.execute(
        select(LinkedChat.username, ChannelAccount.key, Chat.chat_id)
        .join(Chat, Chat.id == LinkedChat.chat_pk)
        .join(ChannelAccount, ChannelAccount.id == Chat.channel_id)
        .order_by(func.lower(LinkedChat.username), LinkedChat.id).limit(limit))
    chats: dict[str, list[str]] = {}
    for username, key, chat_id in rows.all():
        chats.setdefault(username, []).append(f"{key}:{chat_id}")
    return [(name, ", ".join(where[:3]) + (" …" if len(where) > 3 else ""))
            for name, where in chats.items()]


# --- one chat: its link, last commands and link history ------------------------------------------


@dataclass
class HistoryEntry:
    at: datetime
    what: str
    by: str
    outcome: str = ""
    command_id: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at, "what": self.what, "by": self.by, "outcome": self.outcome,
                "command_id": self.command_id}


@dataclass
class ChatLink:
    """A chat of the workspace, its link (if any), its last commands and its link history."""

    chat: Chat
    channel: str
    channel_kind: str
    link: LinkRow | None
    commands: list[CommandLog] = field(default_factory=list)
    orders: dict[int, list[CommandOrder]] = field(default_factory=dict)  # by command id
    history: list[HistoryEntry] = field(default_factory=list)


# What the customer's own link commands ended in (``outcome`` of the command log).
_CHAT_OUTCOMES = {
    "code_sent": "a code was sent as a panel ticket",
    "code_not_delivered": "no code could be delivered (the panel refused the ticket)",
    "link_locked": "refused: too many tries, the chat has to wait",
    "api_problem": "the panel could not be asked",
    "code_done": "the code was right: linked",
    "code_wrong": "wrong code",
    "code_locked": "wrong code too often: locked for a while",
    "code_expired": "the code had expired or was used",
    "unlinked": "unlinked",
    "not_linked": "the chat was not linked",
}


def _mentions(text: str, chat_id: str) -> bool:
    """Whether a support chat's ``link <chat> <user>`` / ``unlink <chat>`` names this chat."""
    words = text.split()
    if len(words) < 2:
        return False
    target = words[1].partition(":")[2] or words[1]
    digits = target.lstrip("+").replace("-", "")
    return target == chat_id or (digits.isdigit() and chat_id.split("@")[0] == digits)


async def chat_link(session: AsyncSession, chat_pk: int) -> ChatLink:
    """One chat of the workspace with its link and what happened to it; NotFound otherwise."""
    found = (await session.execute(
        select(Chat, ChannelAccount.key, ChannelAccount.kind)
        .join(ChannelAccount, ChannelAccount.id == Chat.channel_id)
        .where(Chat.id == chat_pk))).first()
    if found is None:
        raise NotFound("no such chat")
    chat, key, kind = found
    out = ChatLink(chat, key, kind, await link_of_chat(session, chat_pk))
    out.commands = list((await session.execute(
        select(CommandLog)
        .where(CommandLog.channel_id == chat.channel_id, CommandLog.chat_id == chat.chat_id)
        .order_by(CommandLog.id.desc()).limit(RECENT_COMMANDS))).scalars())
    if out.commands:
        items = await session.execute(
            select(CommandOrder).where(CommandOrder.command_id.in_([c.id for c in out.commands]))
            .order_by(CommandOrder.id))
        for item in items.scalars():
            out.orders.setdefault(item.command_id, []).append(item)
    out.history = await _history(session, chat, out.link)
    return out


async def _history(session: AsyncSession, chat: Chat, link: LinkRow | None
                   ) -> list[HistoryEntry]:
    entries: list[HistoryEntry] = []
    # Links made by a code or a support chat appear below through their commands; the others
    # (file, console, API) leave no command behind, so the link itself is their entry.
    if link is not None and link.source not in ("self", "support"):
        entries.append(HistoryEntry(link.created_at, f"Linked to {link.username}",
                                    link.linked_by or link.source_label, link.source_label))
    own = await session.execute(
        select(CommandLog)
        .where(CommandLog.channel_id == chat.channel_id, CommandLog.chat_id == chat.chat_id,
               CommandLog.kind.in_(("link", "code", "unlink")))
        .order_by(CommandLog.id.desc()).limit(HISTORY_LIMIT))
    for c in own.scalars():
        if c.kind == "link":
            what = f"Asked to be linked to {c.username or '?'}"
        elif c.kind == "code":
            what = "Sent a one-time code" + (f" for {c.username}" if c.username else "")
        else:
            what = "Asked to be unlinked"
        entries.append(HistoryEntry(c.created_at, what, "the customer, in this chat",
                                    _CHAT_OUTCOMES.get(c.outcome, c.outcome), c.id))
    core = chat.chat_id.split("@")[0]
    support = await session.execute(
        select(CommandLog)
        .where(CommandLog.source == "support", CommandLog.kind.in_(("link", "unlink")),
               CommandLog.text.contains(core, autoescape=True))
        .order_by(CommandLog.id.desc()).limit(HISTORY_LIMIT))
    for c in support.scalars():
        if not _mentions(c.text, chat.chat_id):
            continue
        if c.kind == "link":
            what = f"Linked to {c.username or '?'} from a support chat"
        else:
            what = "Unlinked from a support chat" + (f" (was {c.username})" if c.username
                                                     else "")
        outcome = {"linked": "done", "unlinked": "done"}.get(c.outcome, c.reply or c.outcome)
        entries.append(HistoryEntry(c.created_at, what, f"support chat {c.chat_id}",
                                    outcome, c.id))
    entries.sort(key=lambda e: e.at, reverse=True)
    return entries[:HISTORY_LIMIT]

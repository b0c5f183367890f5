"""A turn: one inbound message on its way through the conversation, and what it asks to do.

Modules read what they need (templates, linked users, the panel over HTTP) while handling the
turn, but they write nothing directly: replies, messages to other chats, flow changes and
other writes are collected here and committed together with the event's "done" mark, in one
transaction. If the process dies before that commit, the event is processed again from the
start and nothing has been half-done.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.channels.base import Inbound, Keyboard
from panelpilot.channels.drivers import ChannelCreds
from panelpilot.context import Context
from panelpilot.conversation import config
from panelpilot.templates import service as templates

Effect = Callable[[AsyncSession], Awaitable[None]]
T = TypeVar("T")


@dataclass(frozen=True)
class ChatInfo:
    pk: int
    chat_id: str
    chat_type: str  # private | group
    role: str  # customer | customer_group | provider_group | support | unknown
    title: str
    reachable: bool = True  # False: the person blocked the bot (or it was removed)


@dataclass(frozen=True)
class FlowInfo:
    module: str
    step: str
    data: dict[str, Any]


@dataclass
class Reply:
    text: str
    keyboard: Keyboard | None = None
    quote: bool = False


@dataclass
class Outgoing:
    """A message to another chat of the workspace (a provider group, a support chat)."""

    channel_id: int
    chat_id: str
    text: str
    key: str  # unique within this turn: makes the send idempotent
    purpose: str = "dispatch"
    keyboard: Keyboard | None = None


@dataclass
class Turn:
    ctx: Context
    workspace_id: int
    workspace_slug: str
    workspace_settings: dict[str, Any]
    channel: ChannelCreds
    chat: ChatInfo
    message: Inbound
    event_id: int
    flow: FlowInfo | None = None
    # The workspace's configuration version when the turn began (see conversation.config).
    config_version: int | None = None
    # Per-chat values modules asked to read with the turn's context (Module.chat_context).
    chat_context: dict[str, Any] = field(default_factory=dict)
    replies: list[Reply] = field(default_factory=list)
    outgoing: list[Outgoing] = field(default_factory=list)
    effects: list[Effect] = field(default_factory=list)
    outcome: str = ""
    flow_change: tuple[str, ...] | None = None
    flow_update: tuple[str, str, dict[str, Any], int] | None = None

    @property
    def text(self) -> str:
        return (self.message.text or "").strip()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        """A short read-only look at this workspace's data."""
        async with self.ctx.db.read_session(self.workspace_id) as session:
            yield session

    async def cached(self, name: str, load: Callable[[AsyncSession], Awaitable[T]]) -> T:
        """Workspace configuration read by ``load`` (templates, order rules), from memory
        until it changes; see ``conversation.config``."""
        return await config.cached(self.ctx, self.workspace_id, self.config_version, name, load)

    async def template(self, key: str, **values: Any) -> str:
        overrides = await self.cached("templates", templates.overrides)
        return templates.render_text(overrides.get(key, templates.DEFAULTS.get(key, "")),
                                     values)

    def reply(self, text: str, keyboard: Keyboard | None = None, quote: bool = False) -> None:
        self.replies.append(Reply(text, keyboard, quote))

    def send_to(self, channel_id: int, chat_id: str, text: str, *, key: str,
                purpose: str = "dispatch", keyboard: Keyboard | None = None) -> None:
        self.outgoing.append(Outgoing(channel_id, chat_id, text, key, purpose, keyboard))

    def write(self, effect: Effect) -> None:
        """Run ``effect(session)`` in the turn's final transaction."""
        self.effects.append(effect)

    def start_flow(self, module: str, step: str, data: dict[str, Any] | None = None,
                   ttl_seconds: int = 900) -> None:
        self.flow_update = (module, step, data or {}, ttl_seconds)
        self.flow_change = None

    def end_flow(self) -> None:
        self.flow_update = None
        self.flow_change = ("end",)

    def done(self, outcome: str) -> None:
        """A short label of what happened, shown in the message log."""
        self.outcome = outcome[:200]

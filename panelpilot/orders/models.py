"""Tables of order support: settings, linked chats, link codes, provider routes, support chats,
the service cache and its overrides, cooldowns, and the logs admins read.

Every table is workspace-scoped. Logs keep what admins need to debug a customer's complaint
(each order's verdict and why, what went to which provider group, what the panel answered),
never secrets.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from panelpilot.db.base import Base, BigId, WorkspaceScoped, utcnow


class OrderSettings(WorkspaceScoped, Base):
    """One row per workspace: its rules and aliases, and the panel runners' progress."""

    __tablename__ = "order_settings"
    __table_args__ = (UniqueConstraint("workspace_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)  # see orders.rules.OrderRules
    aliases: Mapped[dict[str, Any]] = mapped_column(default=dict)  # word -> command
    # The newest panel ticket id already looked at (tickets are read oldest first).
    ticket_cursor: Mapped[str | None] = mapped_column(String(64), default=None)
    tickets_checked_at: Mapped[datetime | None] = mapped_column(default=None)
    tickets_error: Mapped[str] = mapped_column(String(1000), default="")
    services_refreshed_at: Mapped[datetime | None] = mapped_column(default=None)  # last success
    services_checked_at: Mapped[datetime | None] = mapped_column(default=None)  # last attempt
    services_error: Mapped[str] = mapped_column(String(1000), default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class LinkedChat(WorkspaceScoped, Base):
    """A chat (a private chat or a whole customer group) linked to one panel username."""

    __tablename__ = "linked_chats"
    __table_args__ = (UniqueConstraint("chat_pk"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chat_pk: Mapped[int] = mapped_column(BigId, ForeignKey("chats.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(100), index=True)
    # file (workspace apply manages it), api, support (a support chat's `link`), self (OTP)
    source: Mapped[str] = mapped_column(String(16), default="api")
    linked_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LinkChallenge(WorkspaceScoped, Base):
    """A one-time code sent as a panel ticket to prove a chat belongs to a panel username."""

    __tablename__ = "link_challenges"
    __table_args__ = (Index("ix_link_challenges_chat_created", "chat_pk", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chat_pk: Mapped[int] = mapped_column(BigId, ForeignKey("chats.id", ondelete="CASCADE"))
    username: Mapped[str] = mapped_column(String(100))
    code_hash: Mapped[str] = mapped_column(String(64))  # sha256(salt + code), never the code
    salt: Mapped[str] = mapped_column(String(32))
    # False when the panel refused the ticket (no such user): the chat is told the same as
    # for a real user, and no code can ever match.
    delivered: Mapped[bool] = mapped_column(Boolean, default=True)
    ticket_id: Mapped[str | None] = mapped_column(String(64), default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column(default=None)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProviderRoute(WorkspaceScoped, Base):
    """Where an upstream provider's commands go, and how they are worded."""

    __tablename__ = "provider_routes"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    # Provider names, domains, API-key labels and aliases as panels report them in `provider`.
    match: Mapped[list[Any]] = mapped_column(default=list)
    channel_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("channel_accounts.id", ondelete="SET NULL"), default=None)
    chat_id: Mapped[str | None] = mapped_column(String(128), default=None)
    commands: Mapped[dict[str, Any]] = mapped_column(default=dict)  # action -> template
    bulk: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(16), default="api")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class SupportChat(WorkspaceScoped, Base):
    """A chat of the workspace's own team: any order, admin commands, optional fallback."""

    __tablename__ = "support_chats"
    __table_args__ = (UniqueConstraint("chat_pk"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chat_pk: Mapped[int] = mapped_column(BigId, ForeignKey("chats.id", ondelete="CASCADE"))
    # Receives the provider commands that no route can take.
    fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    source: Mapped[str] = mapped_column(String(16), default="api")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ServiceCache(WorkspaceScoped, Base):
    """The panel's service catalogue as last read (the names carry start and refill rules)."""

    __tablename__ = "service_cache"
    __table_args__ = (UniqueConstraint("workspace_id", "service_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    service_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(300), default="")
    type: Mapped[str] = mapped_column(String(100), default="")
    refill_button: Mapped[bool | None] = mapped_column(default=None)  # the API's own flag
    cancel_button: Mapped[bool | None] = mapped_column(default=None)
    refreshed_at: Mapped[datetime] = mapped_column(default=utcnow)


class ServiceOverride(WorkspaceScoped, Base):
    """An admin's rule for one service, winning over what its name says."""

    __tablename__ = "service_overrides"
    __table_args__ = (UniqueConstraint("workspace_id", "service_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    service_id: Mapped[str] = mapped_column(String(64))
    start_min_s: Mapped[int | None] = mapped_column(Integer, default=None)
    start_max_s: Mapped[int | None] = mapped_column(Integer, default=None)
    refill_kind: Mapped[str | None] = mapped_column(String(16), default=None)
    refill_days: Mapped[int | None] = mapped_column(Integer, default=None)
    note: Mapped[str] = mapped_column(String(300), default="")
    source: Mapped[str] = mapped_column(String(16), default="api")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OrderCooldown(WorkspaceScoped, Base):
    """The one row per order and action that makes repeated requests wait (claimed atomically)."""

    __tablename__ = "order_cooldowns"
    __table_args__ = (UniqueConstraint("workspace_id", "order_id", "action"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16))
    until: Mapped[datetime] = mapped_column()
    command_id: Mapped[int | None] = mapped_column(BigId, default=None)
    requested_by: Mapped[str] = mapped_column(String(200), default="")
    hits: Mapped[int] = mapped_column(Integer, default=0)  # requests refused while it ran
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CommandLog(WorkspaceScoped, Base):
    """One customer or support command (or an unrecognized message) and what became of it."""

    __tablename__ = "order_commands"
    __table_args__ = (Index("ix_order_commands_ws_created", "workspace_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    source: Mapped[str] = mapped_column(String(16))  # chat | support | ticket | console
    channel_id: Mapped[int | None] = mapped_column(BigId, default=None)
    chat_id: Mapped[str | None] = mapped_column(String(128), default=None)
    username: Mapped[str | None] = mapped_column(String(100), default=None, index=True)
    text: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(20))  # grammar kind, e.g. order_action
    action: Mapped[str | None] = mapped_column(String(16), default=None)
    outcome: Mapped[str] = mapped_column(String(40), default="")
    error_type: Mapped[str | None] = mapped_column(String(20), default=None)
    suggestion: Mapped[str | None] = mapped_column(String(40), default=None)
    corrected_from: Mapped[str | None] = mapped_column(String(100), default=None)
    order_count: Mapped[int] = mapped_column(Integer, default=0)
    reply: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[str] = mapped_column(String(1000), default="")  # for admins
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    event_id: Mapped[int | None] = mapped_column(BigId, default=None)
    ticket_id: Mapped[str | None] = mapped_column(String(64), default=None)


class CommandOrder(WorkspaceScoped, Base):
    """One order's verdict within a command."""

    __tablename__ = "order_command_items"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    command_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("order_commands.id", ondelete="CASCADE"), index=True)
    order_id: Mapped[str] = mapped_column(String(64), index=True)
    verdict: Mapped[str] = mapped_column(String(24))
    reason: Mapped[str] = mapped_column(String(300), default="")  # as the customer read it
    detail: Mapped[str] = mapped_column(String(1000), default="")  # for admins
    status: Mapped[str | None] = mapped_column(String(40), default=None)
    provider: Mapped[str | None] = mapped_column(String(200), default=None)
    external_id: Mapped[str | None] = mapped_column(String(128), default=None)
    dispatch_id: Mapped[int | None] = mapped_column(BigId, default=None)


class Dispatch(WorkspaceScoped, Base):
    """A command sent to a provider group (one message, one or more orders)."""

    __tablename__ = "order_dispatches"
    __table_args__ = (Index("ix_order_dispatches_ws_created", "workspace_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    command_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("order_commands.id", ondelete="SET NULL"), default=None, index=True)
    route_id: Mapped[int | None] = mapped_column(BigId, default=None)
    route_name: Mapped[str] = mapped_column(String(100), default="")  # "" for the fallback
    provider: Mapped[str] = mapped_column(String(200), default="")  # as the panel reports it
    fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    action: Mapped[str] = mapped_column(String(16))
    channel_id: Mapped[int] = mapped_column(BigId)
    chat_id: Mapped[str] = mapped_column(String(128))
    text: Mapped[str] = mapped_column(Text)
    # ",2274209,2274210," so that one LIKE finds an order on both databases.
    order_ids: Mapped[str] = mapped_column(String(2000), default="")
    external_ids: Mapped[list[Any]] = mapped_column(default=list)
    message_id: Mapped[int | None] = mapped_column(BigId, default=None)  # outbound_messages.id


class PanelTicketLog(WorkspaceScoped, Base):
    """A panel ticket the ticket runner acted on (panel tickets, never the SaaS's own)."""

    __tablename__ = "panel_ticket_log"
    __table_args__ = (UniqueConstraint("workspace_id", "ticket_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    ticket_id: Mapped[str] = mapped_column(String(64))
    username: Mapped[str] = mapped_column(String(100), default="")
    subject: Mapped[str] = mapped_column(String(300), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    action: Mapped[str | None] = mapped_column(String(16), default=None)
    order_ids: Mapped[list[Any]] = mapped_column(default=list)
    # decided (answer saved, reply pending) | replied | reply_failed | skipped
    status: Mapped[str] = mapped_column(String(16))
    command_id: Mapped[int | None] = mapped_column(BigId, default=None)
    reply: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(String(1000), default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    replied_at: Mapped[datetime | None] = mapped_column(default=None)


class PanelCall(WorkspaceScoped, Base):
    """One call to the panel's API, with how it went."""

    __tablename__ = "panel_calls"
    __table_args__ = (Index("ix_panel_calls_ws_created", "workspace_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    operation: Mapped[str] = mapped_column(String(40))  # get_orders, get_user, create_ticket…
    purpose: Mapped[str] = mapped_column(String(40), default="")  # command, link, tickets…
    detail: Mapped[str] = mapped_column(String(300), default="")  # e.g. "3 ids"
    ok: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str] = mapped_column(String(40), default="")
    error: Mapped[str] = mapped_column(String(1000), default="")
    status_code: Mapped[int | None] = mapped_column(Integer, default=None)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    command_id: Mapped[int | None] = mapped_column(BigId, default=None)


class OrderTestRun(WorkspaceScoped, Base):
    """A command sent from the console's test console, as a linked user or as support, and
    what the real pipeline decided (kept so the checklist knows a test passed)."""

    __tablename__ = "order_test_runs"
    __table_args__ = (Index("ix_order_test_runs_ws_created", "workspace_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    run_by: Mapped[str] = mapped_column(String(200), default="")  # the console user's email
    username: Mapped[str | None] = mapped_column(String(100), default=None)  # None: support
    text: Mapped[str] = mapped_column(Text, default="")
    passed: Mapped[bool] = mapped_column(Boolean, default=False)
    summary: Mapped[str] = mapped_column(String(1000), default="")
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)  # verdicts, answer, dispatches

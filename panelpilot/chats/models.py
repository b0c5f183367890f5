"""Chats and their aliases (old ids that still lead to the same chat)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from panelpilot.db.base import Base, BigId, WorkspaceScoped, utcnow


class ChatRole(StrEnum):
    CUSTOMER = "customer"
    CUSTOMER_GROUP = "customer_group"
    PROVIDER_GROUP = "provider_group"
    SUPPORT = "support"
    UNKNOWN = "unknown"


class Chat(WorkspaceScoped, Base):
    __tablename__ = "chats"
    __table_args__ = (UniqueConstraint("channel_id", "chat_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("channel_accounts.id", ondelete="CASCADE"), index=True
    )
    chat_id: Mapped[str] = mapped_column(String(128))  # the platform's id, opaque
    chat_type: Mapped[str] = mapped_column(String(16), default="private")
    role: Mapped[str] = mapped_column(String(20), default=ChatRole.UNKNOWN)
    title: Mapped[str] = mapped_column(String(200), default="")
    reachable: Mapped[bool] = mapped_column(Boolean, default=True)
    unreachable_reason: Mapped[str] = mapped_column(String(200), default="")
    last_inbound_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ChatAlias(WorkspaceScoped, Base):
    """An earlier id of a chat (a Telegram group before it became a supergroup)."""

    __tablename__ = "chat_aliases"
    __table_args__ = (UniqueConstraint("channel_id", "alias"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("channel_accounts.id", ondelete="CASCADE")
    )
    alias: Mapped[str] = mapped_column(String(128))
    chat_pk: Mapped[int] = mapped_column(BigId, ForeignKey("chats.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

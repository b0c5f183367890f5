"""Outbound messages and their attempts (a delivery row plus one row per try)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from panelpilot.db.base import Base, BigId, WorkspaceScoped, utcnow


class SendStatus(StrEnum):
    QUEUED = "queued"  # waiting for its turn (next_attempt_at)
    SENDING = "sending"  # claimed by a sender until locked_until
    SENT = "sent"  # the platform accepted it
    FAILED = "failed"  # permanently failed or out of retries: in the failed list


class OutboundMessage(WorkspaceScoped, Base):
    __tablename__ = "outbound_messages"
    __table_args__ = (
        UniqueConstraint("channel_id", "idempotency_key"),
        Index("ix_outbound_messages_status_next", "status", "next_attempt_at"),
        Index("ix_outbound_messages_external", "channel_id", "external_id"),
        # The claim looks for older unfinished messages of the same chat.
        Index("ix_outbound_messages_chat", "channel_id", "chat_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("channel_accounts.id", ondelete="CASCADE"), index=True
    )
    chat_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(20), default="text")  # text | callback_answer
    purpose: Mapped[str] = mapped_column(String(20), default="reply")  # reply|dispatch|broadcast
    text: Mapped[str] = mapped_column(Text, default="")
    keyboard: Mapped[list[Any] | None] = mapped_column(default=None)
    reply_to: Mapped[str | None] = mapped_column(String(128), default=None)
    idempotency_key: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=SendStatus.QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=8)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(String(1000), default="")
    error_reason: Mapped[str] = mapped_column(String(40), default="")
    external_id: Mapped[str | None] = mapped_column(String(128), default=None)
    delivery_status: Mapped[str | None] = mapped_column(String(16), default=None)
    migrated_resend: Mapped[bool] = mapped_column(default=False)
    source_event_id: Mapped[int | None] = mapped_column(BigId, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)
    delivery_updated_at: Mapped[datetime | None] = mapped_column(default=None)


class OutboundAttempt(WorkspaceScoped, Base):
    __tablename__ = "outbound_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("outbound_messages.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    ok: Mapped[bool] = mapped_column(default=False)
    reason: Mapped[str] = mapped_column(String(40), default="")
    detail: Mapped[str] = mapped_column(String(1000), default="")

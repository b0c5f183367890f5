"""Inbound events: the raw update as received, and what processing made of it."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from panelpilot.db.base import Base, BigId, WorkspaceScoped, utcnow


class EventStatus(StrEnum):
    NEW = "new"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"  # gave up after repeated crashes of its processing; see error


class InboundEvent(WorkspaceScoped, Base):
    __tablename__ = "inbound_events"
    __table_args__ = (
        UniqueConstraint("channel_id", "event_key"),
        Index("ix_inbound_events_chat_key_id", "chat_key", "id"),
        Index("ix_inbound_events_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("channel_accounts.id", ondelete="CASCADE")
    )
    event_key: Mapped[str] = mapped_column(String(200))
    # Events with the same chat key are processed one at a time, in id order.
    chat_key: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]] = mapped_column()
    status: Mapped[str] = mapped_column(String(16), default=EventStatus.NEW)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(default=None)
    started_at: Mapped[datetime | None] = mapped_column(default=None)  # last claimed
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(default=None)
    # What processing made of it, for the message log.
    chat_id: Mapped[str | None] = mapped_column(String(128), default=None)
    sender_id: Mapped[str | None] = mapped_column(String(128), default=None)
    text: Mapped[str | None] = mapped_column(Text, default=None)
    outcome: Mapped[str] = mapped_column(String(200), default="")
    error: Mapped[str] = mapped_column(String(1000), default="")

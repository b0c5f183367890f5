"""Per-chat conversation state for multi-step flows."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from panelpilot.db.base import Base, BigId, WorkspaceScoped, utcnow


class FlowState(WorkspaceScoped, Base):
    __tablename__ = "flow_states"
    __table_args__ = (UniqueConstraint("chat_pk"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chat_pk: Mapped[int] = mapped_column(BigId, ForeignKey("chats.id", ondelete="CASCADE"))
    module: Mapped[str] = mapped_column(String(40))
    step: Mapped[str] = mapped_column(String(40))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    expires_at: Mapped[datetime] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

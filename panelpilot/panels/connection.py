"""The panel connection of a workspace: panel type, address and encrypted API keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panelpilot.db.base import Base, BigId, WorkspaceScoped, utcnow
from panelpilot.vault.models import Secret

PANEL_TYPES = ("perfectpanel", "rental")


class PanelConnection(WorkspaceScoped, Base):
    __tablename__ = "panel_connections"
    __table_args__ = (UniqueConstraint("workspace_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    panel_type: Mapped[str] = mapped_column(String(20))
    base_url: Mapped[str] = mapped_column(String(500))
    api_key_id: Mapped[int] = mapped_column(BigId, ForeignKey("secrets.id"))
    user_api_key_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("secrets.id"), default=None
    )
    last_test_at: Mapped[datetime | None] = mapped_column(default=None)
    last_test_ok: Mapped[bool | None] = mapped_column(default=None)
    last_test_report: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    api_key: Mapped[Secret] = relationship(foreign_keys=[api_key_id], lazy="joined")
    user_api_key: Mapped[Secret | None] = relationship(
        foreign_keys=[user_api_key_id], lazy="joined"
    )

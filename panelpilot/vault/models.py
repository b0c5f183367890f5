"""The secrets table: one encrypted value per row, referenced by the rows that need it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, declared_attr, mapped_column

from panelpilot.db.base import Base, BigId, WorkspaceScoped, utcnow


class Secret(WorkspaceScoped, Base):
    __tablename__ = "secrets"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    purpose: Mapped[str] = mapped_column(String(80))  # e.g. "panel.api_key", "telegram.token"
    key_id: Mapped[str] = mapped_column(String(16), index=True)
    ciphertext: Mapped[str] = mapped_column(Text)
    hint: Mapped[str] = mapped_column(String(4), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @declared_attr
    def workspace_id(cls) -> Mapped[int | None]:  # type: ignore[override]
        # NULL for platform-wide secrets (e.g. the platform's own payment keys).
        return mapped_column(
            BigId, ForeignKey("workspaces.id", ondelete="CASCADE"), index=True, nullable=True
        )

    @property
    def aad(self) -> str:
        return f"{self.workspace_id or 0}:{self.purpose}"

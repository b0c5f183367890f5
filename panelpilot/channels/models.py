"""Channel accounts: one Telegram bot, Green API instance or Meta phone number of a workspace."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from panelpilot.db.base import Base, BigId, WorkspaceScoped, utcnow
from panelpilot.vault.models import Secret


class ChannelKind(StrEnum):
    TELEGRAM = "telegram"
    GREENAPI = "greenapi"
    META = "meta"


class ChannelMode(StrEnum):
    WEBHOOK = "webhook"
    POLLING = "polling"


class ChannelStatus(StrEnum):
    ACTIVE = "active"  # receiving and sending
    DISABLED = "disabled"  # turned off by the owner: inbound ignored, nothing sent
    DISCONNECTED = "disconnected"  # WhatsApp not authorized / token refused: sends held
    PROBLEM = "problem"  # set-up failed (webhook refused, 409 conflict…): see status_detail


class ChannelAccount(WorkspaceScoped, Base):
    __tablename__ = "channel_accounts"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Webhooks are routed by this opaque id, never by a token.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    key: Mapped[str] = mapped_column(String(63))  # the owner's name for it, unique per workspace
    kind: Mapped[str] = mapped_column(String(16))
    mode: Mapped[str] = mapped_column(String(16), default=ChannelMode.WEBHOOK)
    status: Mapped[str] = mapped_column(String(16), default=ChannelStatus.ACTIVE)
    status_detail: Mapped[str] = mapped_column(String(500), default="")
    # Non-secret settings: Green API idInstance, Meta phone_number_id, bot username, limits.
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)
    token_id: Mapped[int] = mapped_column(BigId, ForeignKey("secrets.id"))
    hook_secret_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("secrets.id"),
                                                       default=None)
    app_secret_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("secrets.id"),
                                                      default=None)
    # Meta routing: the phone number id of every event must find its channel.
    route_key: Mapped[str | None] = mapped_column(String(64), index=True, default=None)
    poll_offset: Mapped[int] = mapped_column(Integer, default=0)
    paused_until: Mapped[datetime | None] = mapped_column(default=None)
    last_update_at: Mapped[datetime | None] = mapped_column(default=None)
    webhook_set_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    token: Mapped[Secret] = relationship(foreign_keys=[token_id], lazy="joined")
    hook_secret: Mapped[Secret | None] = relationship(foreign_keys=[hook_secret_id],
                                                      lazy="joined")
    app_secret: Mapped[Secret | None] = relationship(foreign_keys=[app_secret_id],
                                                     lazy="joined")

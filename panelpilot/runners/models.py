"""Runner leases and health: who runs it, until when, and how its last runs went."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from panelpilot.db.base import Base


class RunnerState(Base):
    __tablename__ = "runner_states"

    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(100), default=None)
    lease_until: Mapped[datetime | None] = mapped_column(default=None)
    last_run_at: Mapped[datetime | None] = mapped_column(default=None)
    last_ok_at: Mapped[datetime | None] = mapped_column(default=None)
    last_error: Mapped[str] = mapped_column(String(1000), default="")
    last_error_at: Mapped[datetime | None] = mapped_column(default=None)
    runs: Mapped[int] = mapped_column(Integer, default=0)
    info: Mapped[dict[str, Any]] = mapped_column(default=dict)


class RateBucket(Base):
    """A shared rate limit (GCRA): the theoretical arrival time of the next permitted send."""

    __tablename__ = "rate_buckets"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    tat: Mapped[float] = mapped_column(default=0.0)  # seconds since the epoch

"""Settings from the environment (prefix ``PANELPILOT_``), one object for the whole process."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PANELPILOT_", extra="ignore")

    env: Literal["development", "production"] = "development"
    database_url: str = "sqlite+aiosqlite:///panelpilot.db"
    # The key that encrypts secrets at rest. Older keys stay readable while listed in
    # old_secret_keys, so `panelpilot secrets rotate` can move every row to the current one.
    secret_key: str | None = None
    old_secret_keys: str = ""
    secret_key_file: Path = Path(".panelpilot-secret-key")
    public_url: str = "http://127.0.0.1:8000"

    telegram_api_url: str = "https://api.telegram.org"
    greenapi_url: str = "https://api.green-api.com"
    meta_graph_url: str = "https://graph.facebook.com"
    meta_graph_version: str = "v21.0"
    paystack_url: str = "https://api.paystack.co"

    # Send limits per channel account (shared by every worker through the rate buckets).
    telegram_bot_rate: float = 29.7  # Telegram allows about 30 messages/s per bot
    telegram_chat_rate: float = 1.0  # …1 message/s per private chat
    telegram_group_per_minute: float = 20.0  # …20 messages/min per group
    greenapi_rate: float = 10.0
    meta_rate: float = 70.0  # Cloud API default throughput is 80 messages/s per number
    whatsapp_chat_rate: float = 1.0
    send_max_attempts: int = 8
    inbox_poll_interval: float = 0.2
    # How long a claimed event or send is held before another worker may take it over
    # (the worker that claimed it is presumed dead by then).
    inbox_lease_seconds: float = 60.0
    outbox_lease_seconds: float = 60.0
    outbox_poll_interval: float = 0.2

    redis_url: str | None = None
    log_format: Literal["auto", "json", "text"] = "auto"
    log_level: str = "INFO"
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    http_timeout: float = 15.0
    # FastAPI's own OpenTelemetry spans, metrics and logs for each request, through the
    # process's global providers. Off, a request does not even look for them (a few µs each
    # on the webhook path); Prometheus metrics are always at /metrics.
    opentelemetry: bool = False

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    def old_keys(self) -> list[str]:
        return [k.strip() for k in self.old_secret_keys.split(",") if k.strip()]


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


def reset_settings() -> None:
    """Forget the cached settings (tests and the CLI change the environment)."""
    get_settings.cache_clear()

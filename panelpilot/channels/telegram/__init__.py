"""Telegram channel: Bot API updates in (normalize), messages out (client, over aiogram)."""

from panelpilot.channels.telegram.client import TEXT_LIMIT, TelegramClient, TelegramClients
from panelpilot.channels.telegram.normalize import normalize, split_events

__all__ = ["TEXT_LIMIT", "TelegramClient", "TelegramClients", "normalize", "split_events"]

"""The process-wide things every part needs: settings, database, keyring and one HTTP client."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

import panelpilot.db.models  # noqa: F401  (registers every table with the metadata)
from panelpilot.db.engine import Database
from panelpilot.settings import Settings, get_settings
from panelpilot.vault.crypto import Keyring, load_keyring


@dataclass
class Context:
    settings: Settings
    db: Database
    keyring: Keyring
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=15.0))
    # Per-process singletons that features create on first use (client pools, caches, signals).
    state: dict[str, Any] = field(default_factory=dict)
    on_close: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    def singleton(self, name: str, make: Callable[[], Any]) -> Any:
        if name not in self.state:
            self.state[name] = make()
        return self.state[name]

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Context:
        settings = settings or get_settings()
        keyring = load_keyring(
            settings.secret_key,
            settings.old_keys(),
            settings.secret_key_file,
            settings.is_production,
        )
        limits = httpx.Limits(max_connections=500, max_keepalive_connections=100)
        return cls(
            settings=settings,
            db=Database(settings.database_url),
            keyring=keyring,
            http=httpx.AsyncClient(timeout=settings.http_timeout, limits=limits),
        )

    async def close(self) -> None:
        for closer in reversed(self.on_close):
            await closer()
        self.on_close.clear()
        await self.http.aclose()
        await self.db.dispose()


def settle_process() -> None:
    """Call once a server or worker process has started: load the channels' API clients now
    (aiogram takes about a second, which must not fall on the first message) and keep
    everything loaded so far out of the garbage collector's full passes. Those objects live as
    long as the process, and walking them stalled every request in flight for up to 200 ms."""
    import gc

    import panelpilot.channels.greenapi.client
    import panelpilot.channels.meta.client
    import panelpilot.channels.telegram.client  # noqa: F401

    gc.collect()
    gc.freeze()

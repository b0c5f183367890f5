"""One driver per channel kind: how its webhooks are read and checked, and how it sends.

The spine only talks to channels through ``driver_for(kind)``; each kind's own quirks stay in
its folder (``telegram/``, ``greenapi/``, ``meta/``).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from typing import Any, Protocol

from panelpilot.channels.base import Inbound, Keyboard, RawEvent
from panelpilot.context import Context
from panelpilot.outbox.ratelimit import Limit


@dataclass(frozen=True)
class ChannelCreds:
    """A channel account with its secrets decrypted, as senders and webhooks need it."""

    id: int
    workspace_id: int
    public_id: str
    key: str
    kind: str
    mode: str
    status: str
    config: dict[str, Any] = field(default_factory=dict)
    token: str = ""
    hook_secret: str | None = None
    app_secret: str | None = None


class Client(Protocol):
    async def send_text(self, chat_id: str, text: str, *, reply_to: str | None = None,
                        keyboard: Keyboard | None = None) -> str: ...


class Driver(Protocol):
    kind: str
    text_limit: int

    def split(self, payload: Any, creds: ChannelCreds) -> list[RawEvent]: ...

    def normalize(self, payload: Any, creds: ChannelCreds) -> Inbound: ...

    def authenticate(self, headers: dict[str, str], body: bytes, creds: ChannelCreds) -> bool: ...

    def client(self, ctx: Context, creds: ChannelCreds) -> Any: ...

    def limits(self, ctx: Context, creds: ChannelCreds, chat_type: str) -> list[tuple[str, Limit]]:
        ...

    async def setup(self, ctx: Context, creds: ChannelCreds, webhook_url: str) -> str: ...

    async def teardown(self, ctx: Context, creds: ChannelCreds, webhook_url: str) -> bool:
        """The channel was removed: stop the platform delivering to ``webhook_url``, only if
        it still delivers there (the same account may be a channel elsewhere now); whether
        anything was changed."""
        ...


def _same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())


class TelegramDriver:
    kind = "telegram"
    text_limit = 4096
    # The update types the spine handles; others are not even sent to us.
    allowed_updates = ["message", "edited_message", "callback_query", "my_chat_member",
                       "channel_post"]

    def split(self, payload: Any, creds: ChannelCreds) -> list[RawEvent]:
        from panelpilot.channels.telegram.normalize import split_events

        return split_events(payload)

    def normalize(self, payload: Any, creds: ChannelCreds) -> Inbound:
        from panelpilot.channels.telegram.normalize import normalize

        return normalize(payload, creds.config.get("bot_username"))

    def authenticate(self, headers: dict[str, str], body: bytes, creds: ChannelCreds) -> bool:
        return _same(headers.get("x-telegram-bot-api-secret-token"), creds.hook_secret)

    def client(self, ctx: Context, creds: ChannelCreds) -> Any:
        from panelpilot.channels.telegram.client import TelegramClients

        def make() -> TelegramClients:
            pool = TelegramClients(ctx.settings.telegram_api_url,
                                   max_bots=4096, timeout=ctx.settings.http_timeout)
            ctx.on_close.append(pool.close)
            return pool

        pool: TelegramClients = ctx.singleton("telegram_clients", make)
        return pool.for_token(creds.token)

    def limits(self, ctx: Context, creds: ChannelCreds, chat_type: str) -> list[tuple[str, Limit]]:
        s = ctx.settings
        bot = Limit(float(creds.config.get("rate", s.telegram_bot_rate)), burst=1)
        if chat_type == "group":
            chat = Limit(s.telegram_group_per_minute / 60.0, burst=3)
        else:
            chat = Limit(s.telegram_chat_rate, burst=1)
        return [(f"ch{creds.id}", bot), (f"ch{creds.id}:chat", chat)]

    async def setup(self, ctx: Context, creds: ChannelCreds, webhook_url: str) -> str:
        client = self.client(ctx, creds)
        me = await client.get_me()
        if creds.mode == "webhook":
            await client.set_webhook(webhook_url, creds.hook_secret, self.allowed_updates)
        else:
            await client.delete_webhook()
        return str(me.get("username") or "")

    async def teardown(self, ctx: Context, creds: ChannelCreds, webhook_url: str) -> bool:
        client = self.client(ctx, creds)
        if (await client.get_webhook_info()).get("url") != webhook_url:
            return False
        await client.delete_webhook()
        return True


class GreenApiDriver:
    kind = "greenapi"
    text_limit = 20000

    def split(self, payload: Any, creds: ChannelCreds) -> list[RawEvent]:
        from panelpilot.channels.greenapi.normalize import split_events

        return split_events(payload, str(creds.config.get("id_instance", "")))

    def normalize(self, payload: Any, creds: ChannelCreds) -> Inbound:
        from panelpilot.channels.greenapi.normalize import normalize

        return normalize(payload)

    def authenticate(self, headers: dict[str, str], body: bytes, creds: ChannelCreds) -> bool:
        from panelpilot.channels.greenapi import webhook_authorized

        return bool(creds.hook_secret) and webhook_authorized(
            headers.get("authorization"), creds.hook_secret or "")

    def client(self, ctx: Context, creds: ChannelCreds) -> Any:
        from panelpilot.channels.greenapi.client import GreenApiClient

        base = str(creds.config.get("api_url") or ctx.settings.greenapi_url)
        return GreenApiClient(base, str(creds.config["id_instance"]), creds.token, ctx.http)

    def limits(self, ctx: Context, creds: ChannelCreds, chat_type: str) -> list[tuple[str, Limit]]:
        s = ctx.settings
        account = Limit(float(creds.config.get("rate", s.greenapi_rate)), burst=1)
        return [(f"ch{creds.id}", account), (f"ch{creds.id}:chat", Limit(s.whatsapp_chat_rate, 3))]

    async def setup(self, ctx: Context, creds: ChannelCreds, webhook_url: str) -> str:
        client = self.client(ctx, creds)
        if creds.mode == "webhook":
            await client.set_settings(webhook_url, creds.hook_secret or "")
        else:
            await client.set_settings("", "")
        return str(await client.get_state())

    async def teardown(self, ctx: Context, creds: ChannelCreds, webhook_url: str) -> bool:
        client = self.client(ctx, creds)
        if (await client.get_settings()).get("webhookUrl") != webhook_url:
            return False
        # An empty URL turns webhook delivery off (Green API's setSettings).
        await client.set_settings("", "")
        return True


class MetaDriver:
    kind = "meta"
    text_limit = 4096

    def split(self, payload: Any, creds: ChannelCreds) -> list[RawEvent]:
        from panelpilot.channels.meta.normalize import split_events

        return split_events(payload)

    def normalize(self, payload: Any, creds: ChannelCreds) -> Inbound:
        from panelpilot.channels.meta.normalize import normalize

        return normalize(payload)

    def authenticate(self, headers: dict[str, str], body: bytes, creds: ChannelCreds) -> bool:
        from panelpilot.channels.meta.signature import verify_signature

        return bool(creds.app_secret) and verify_signature(
            creds.app_secret or "", body, headers.get("x-hub-signature-256"))

    def client(self, ctx: Context, creds: ChannelCreds) -> Any:
        from panelpilot.channels.meta.client import MetaClient

        return MetaClient(ctx.settings.meta_graph_url, ctx.settings.meta_graph_version,
                          str(creds.config["phone_number_id"]), creds.token, ctx.http)

    def limits(self, ctx: Context, creds: ChannelCreds, chat_type: str) -> list[tuple[str, Limit]]:
        s = ctx.settings
        account = Limit(float(creds.config.get("rate", s.meta_rate)), burst=1)
        return [(f"ch{creds.id}", account), (f"ch{creds.id}:chat", Limit(s.whatsapp_chat_rate, 3))]

    async def setup(self, ctx: Context, creds: ChannelCreds, webhook_url: str) -> str:
        # Meta's webhook is set in the app dashboard (callback URL + verify token); nothing to
        # call here. The console shows both values.
        return "webhook is configured in the Meta app dashboard"

    async def teardown(self, ctx: Context, creds: ChannelCreds, webhook_url: str) -> bool:
        # The app's webhook serves every number of the app: it stays (deliveries for a number
        # no channel has any more are acknowledged and dropped).
        return False


DRIVERS: dict[str, Driver] = {
    d.kind: d for d in (TelegramDriver(), GreenApiDriver(), MetaDriver())
}


def driver_for(kind: str) -> Driver:
    return DRIVERS[kind]

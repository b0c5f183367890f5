"""A whole panelpilot over real sockets: the web app, the workers and every channel simulator."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from panelpilot.context import Context
from panelpilot.settings import Settings
from panelpilot.sim.greenapi import GreenApiSim
from panelpilot.sim.meta import MetaSim
from panelpilot.sim.server import LoopbackServer
from panelpilot.sim.telegram import Limits, TelegramSim

TG_TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
GREEN_ID, GREEN_TOKEN = "1101000001", "d75b3a66374942c5b3c019c698abc2067e151558acbd412345"
META_PNID, META_TOKEN, META_SECRET = "106540352242922", "EAAGm0PX4ZCps", "app-secret-0123456789"


@dataclass
class Stack:
    ctx: Context
    url: str
    tg: TelegramSim
    green: GreenApiSim
    meta: MetaSim
    workspace_id: int
    http: httpx.AsyncClient
    servers: list[LoopbackServer] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    workers: asyncio.Task[None] | None = None

    def start_workers(self, concurrency: int = 8) -> None:
        from panelpilot.worker import run_loops

        self.stop = asyncio.Event()
        self.workers = asyncio.create_task(run_loops(self.ctx, self.stop, concurrency))

    async def stop_workers(self) -> None:
        self.stop.set()
        if self.workers is not None:
            await asyncio.wait_for(self.workers, timeout=30)
            self.workers = None

    async def add_channel(self, key: str, kind: str, mode: str = "webhook",
                          **fields: Any) -> int:
        from panelpilot.channels.service import connect, forget, set_channel

        async with self.ctx.db.session(self.workspace_id) as session:
            ch, _ = await set_channel(session, self.ctx.keyring, self.workspace_id, key=key,
                                      kind=kind, mode=mode, fields=fields)
            channel_id = ch.id
        forget(self.ctx)
        ok, detail = await connect(self.ctx, channel_id)
        assert ok, detail
        return channel_id

    async def telegram(self, mode: str = "webhook") -> int:
        return await self.add_channel("tg", "telegram", mode, token=TG_TOKEN)

    async def greenapi(self, mode: str = "webhook") -> int:
        return await self.add_channel("wa", "greenapi", mode, id_instance=GREEN_ID,
                                      api_token=GREEN_TOKEN)

    async def meta_number(self, verify_token: str = "verify-me") -> int:
        channel_id = await self.add_channel(
            "cloud", "meta", "webhook", phone_number_id=META_PNID, access_token=META_TOKEN,
            app_secret=META_SECRET, verify_token=verify_token)
        from panelpilot.channels.service import load_creds

        creds = await load_creds(self.ctx, channel_id=channel_id, fresh=True)
        assert creds is not None
        self.meta.set_webhook(f"{self.url}/hooks/meta/{creds.public_id}", verify_token,
                              META_SECRET)
        return channel_id


async def eventually(check: Callable[[], Any], timeout: float = 15.0,
                     interval: float = 0.05) -> Any:
    """Wait until ``check()`` (sync or async) returns something truthy; return it."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if asyncio.iscoroutine(last):
            last = await last
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


async def build_stack(settings: Settings, *, tg_limits: Limits | None = None,
                      workers: bool = True) -> AsyncIterator[Stack]:
    from panelpilot.tenancy.service import create_workspace
    from panelpilot.web.app import create_app

    tg = TelegramSim(limits=tg_limits or Limits(), webhook_retry_delays=(0.2, 0.5))
    green = GreenApiSim(rate_limits={"getSettings": None, "setSettings": None,
                                     "getStateInstance": None}, webhook_retry_interval=0.5,
                        receive_timeout_scale=0.05)
    meta = MetaSim(retry_delays=(0.2, 0.5))
    tg.add_bot(TG_TOKEN, username="pilot_bot")
    green.add_instance(GREEN_ID, GREEN_TOKEN)
    meta.add_number(META_PNID, META_TOKEN, META_SECRET, display_phone_number="15550001111",
                    waba_id="1020304050")
    servers = [LoopbackServer(tg.app), LoopbackServer(green.app), LoopbackServer(meta.app)]
    for server in servers:
        await server.start()
    holder: dict[str, Any] = {}

    async def app(scope: Any, receive: Any, send: Any) -> None:
        await holder["app"](scope, receive, send)

    web = LoopbackServer(app)
    ctx = Context.from_settings(settings.model_copy(update={
        "public_url": web.url, "telegram_api_url": servers[0].url,
        "greenapi_url": servers[1].url, "meta_graph_url": servers[2].url,
        "inbox_poll_interval": 0.05, "outbox_poll_interval": 0.05,
    }))
    holder["app"] = create_app(ctx)
    await web.start()
    async with ctx.db.platform_session() as session:
        ws = await create_workspace(session, slug="acme", name="Acme")
    http = httpx.AsyncClient(base_url=web.url, timeout=10)
    stack = Stack(ctx=ctx, url=web.url, tg=tg, green=green, meta=meta, workspace_id=ws.id,
                  http=http, servers=[*servers, web])
    if workers:
        stack.start_workers()
    try:
        yield stack
    finally:
        await stack.stop_workers()
        await http.aclose()
        for closer in (getattr(tg, "close", None), getattr(meta, "aclose", None)):
            if closer is not None:
                result = closer()
                if asyncio.iscoroutine(result):
                    await result
        for server in reversed(stack.servers):
            await server.stop()
        await ctx.close()

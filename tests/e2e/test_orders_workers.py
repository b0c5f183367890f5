"""Atomic cooldowns across worker processes: the same customer asks for the same refill from
Telegram and WhatsApp at the same instant; two workers decide in parallel; one dispatch each."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from panelpilot.orders import linking
from panelpilot.orders.models import Dispatch, ProviderRoute
from panelpilot.panels.service import set_connection
from panelpilot.settings import Settings
from panelpilot.sim.perfectpanel import PerfectPanelSim
from panelpilot.sim.server import LoopbackServer
from panelpilot.sim.smm_data import now_utc
from panelpilot.sim.telegram import Limits
from tests.conftest import TEST_KEY
from tests.e2e.harness import GREEN_ID, TG_TOKEN, Stack, build_stack, eventually

JOHN_TG = 555000111
JOHN_WA = "79001234567@c.us"
PROVIDERS = -1001234567890


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    async for s in build_stack(settings, tg_limits=Limits.off(), workers=False):
        yield s


def _worker(stack: Stack) -> subprocess.Popen[bytes]:
    s = stack.ctx.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANELPILOT_")}
    env.update(
        PANELPILOT_DATABASE_URL=s.database_url, PANELPILOT_SECRET_KEY=TEST_KEY,
        PANELPILOT_TELEGRAM_API_URL=s.telegram_api_url, PANELPILOT_PUBLIC_URL=s.public_url,
        PANELPILOT_GREENAPI_URL=s.greenapi_url, PANELPILOT_META_GRAPH_URL=s.meta_graph_url,
        PANELPILOT_INBOX_POLL_INTERVAL="0.02", PANELPILOT_OUTBOX_POLL_INTERVAL="0.05",
        PANELPILOT_LOG_LEVEL="WARNING")
    return subprocess.Popen([sys.executable, "-m", "panelpilot", "worker", "--concurrency", "4"],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


async def test_identical_requests_from_two_chats_on_two_workers_dispatch_once(
    stack: Stack,
) -> None:
    panel = PerfectPanelSim(seed=True, rate_limit=None)
    server = LoopbackServer(panel.app)
    await server.start()
    ids = [str(2274500 + n) for n in range(6)]
    for n, order_id in enumerate(ids):
        panel.add_order(order_id, user="john_doe", service_id=101, status="completed",
                        external_id=f"EXT-W{n}", provider="smmprovider.com",
                        created=now_utc() - timedelta(days=2))
    tg = await stack.telegram("webhook")
    wa = await stack.greenapi("webhook")
    stack.tg.add_chat(TG_TOKEN, PROVIDERS, "supergroup", title="Providers")
    ws = stack.workspace_id
    async with stack.ctx.db.session(ws) as s:
        await set_connection(s, stack.ctx.keyring, ws, panel_type="perfectpanel",
                             url=server.url, api_key=panel.admin_key)
        for channel_id, kind, chat_id in ((tg, "telegram", str(JOHN_TG)),
                                          (wa, "greenapi", JOHN_WA)):
            chat = await linking.chat_for(s, ws, channel_id, kind, chat_id)
            await linking.link(s, ws, chat, "john_doe", source="api")
        group = await linking.chat_for(s, ws, tg, "telegram", str(PROVIDERS))
        group.role = "provider_group"
        s.add(ProviderRoute(workspace_id=ws, name="smmprovider", match=["smmprovider.com"],
                            channel_id=tg, chat_id=str(PROVIDERS), commands={}, bulk=True))
    workers = [_worker(stack), _worker(stack)]
    try:
        for order_id in ids:
            stack.tg.user_says(TG_TOKEN, JOHN_TG, f"{order_id} refill")
            stack.green.user_says(GREEN_ID, JOHN_WA, f"{order_id} refill")

        def answers() -> list[str] | None:
            texts = ([m["text"] for m in stack.tg.sent(TG_TOKEN, JOHN_TG)]
                     + [m.message for m in stack.green.sent(GREEN_ID, JOHN_WA)])
            return texts if len(texts) == 2 * len(ids) else None

        texts = await eventually(answers, timeout=60)
        await eventually(lambda: len(stack.tg.sent(TG_TOKEN, PROVIDERS)) >= len(ids),
                         timeout=30)
    finally:
        for w in workers:
            _stop(w)
        await server.stop()
    for order_id in ids:
        mine = sorted(t.split(":")[1].strip() for t in texts if t[2:].startswith(order_id))
        assert mine == ["refill request sent.", "refill was already requested. You can ask "
                                                "again in 1 day."], (order_id, texts)
    async with stack.ctx.db.read_session(ws) as s:
        dispatched = Counter(i for r in (await s.execute(select(Dispatch.order_ids))).scalars()
                             for i in r.split(",") if i)
    assert dispatched == Counter(dict.fromkeys(ids, 1))
    provider_texts = sorted(m["text"] for m in stack.tg.sent(TG_TOKEN, PROVIDERS))
    assert provider_texts == sorted(f"EXT-W{n} refill" for n in range(len(ids)))

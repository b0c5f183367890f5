"""Several worker processes: per-chat order, and a worker killed mid-batch loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from panelpilot.inbox.models import InboundEvent
from panelpilot.outbox.enqueue import enqueue
from panelpilot.settings import Settings
from panelpilot.sim.telegram import Limits
from tests.conftest import TEST_KEY
from tests.e2e.harness import TG_TOKEN, Stack, build_stack, eventually


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    async for s in build_stack(settings, tg_limits=Limits.off(), workers=False):
        yield s


def start_worker(stack: Stack, **extra: str) -> subprocess.Popen[bytes]:
    s = stack.ctx.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("PANELPILOT_")}
    env.update(
        PANELPILOT_DATABASE_URL=s.database_url, PANELPILOT_SECRET_KEY=TEST_KEY,
        PANELPILOT_TELEGRAM_API_URL=s.telegram_api_url, PANELPILOT_PUBLIC_URL=s.public_url,
        PANELPILOT_GREENAPI_URL=s.greenapi_url, PANELPILOT_META_GRAPH_URL=s.meta_graph_url,
        PANELPILOT_INBOX_POLL_INTERVAL="0.05", PANELPILOT_OUTBOX_POLL_INTERVAL="0.05",
        PANELPILOT_INBOX_LEASE_SECONDS="3", PANELPILOT_OUTBOX_LEASE_SECONDS="3",
        PANELPILOT_HTTP_TIMEOUT="3",
        PANELPILOT_LOG_LEVEL="WARNING")
    env.update(extra)
    return subprocess.Popen([sys.executable, "-m", "panelpilot", "worker", "--concurrency", "4"],
                            env=env, stdout=subprocess.DEVNULL, stderr=tempfile.TemporaryFile())


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


async def test_per_chat_order_is_kept_with_two_worker_processes(stack: Stack) -> None:
    await stack.telegram("webhook")
    workers = [start_worker(stack), start_worker(stack)]
    try:
        chats = [1000 + i for i in range(8)]
        for round_ in range(6):
            for chat in chats:
                stack.tg.user_says(TG_TOKEN, chat, "help" if round_ % 2 else f"noise {round_}")

        async def all_done() -> list[InboundEvent] | None:
            async with stack.ctx.db.platform_session() as s:
                rows = list((await s.execute(select(InboundEvent).order_by(InboundEvent.id)))
                            .scalars())
            return rows if len(rows) >= 48 and all(r.status == "done" for r in rows) else None

        rows = await eventually(all_done, timeout=90)
        await eventually(lambda: len(stack.tg.sent(TG_TOKEN)) == 24, timeout=90)
    finally:
        for w in workers:
            stop(w)
    by_chat: dict[str, list[InboundEvent]] = {}
    for row in rows:
        by_chat.setdefault(row.chat_key, []).append(row)
    assert len(by_chat) == len(chats)
    for events in by_chat.values():
        assert [e.id for e in events] == sorted(e.id for e in events)
        for earlier, later in zip(events, events[1:], strict=False):
            assert earlier.processed_at is not None and later.started_at is not None
            # the next message of a chat started only after the previous one was finished
            assert later.started_at >= earlier.processed_at


async def test_a_killed_sender_loses_nothing_and_repeats_at_most_the_send_in_flight(
    stack: Stack,
) -> None:
    channel_id = await stack.telegram("polling")
    texts = [f"update {i:03d}" for i in range(60)]
    async with stack.ctx.db.session(stack.workspace_id) as s:
        for i, text in enumerate(texts):
            await enqueue(s, stack.workspace_id, channel_id=channel_id, kind="telegram",
                          chat_id="4242", text=text, key=f"k{i}")
    rates = {"PANELPILOT_TELEGRAM_CHAT_RATE": "25", "PANELPILOT_TELEGRAM_BOT_RATE": "25"}
    first = start_worker(stack, **rates)
    try:
        await eventually(lambda: len(stack.tg.sent(TG_TOKEN, 4242)) >= 15, timeout=30)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        sent_at_kill = len(stack.tg.sent(TG_TOKEN, 4242))
        assert sent_at_kill < len(texts)
        second = start_worker(stack, **rates)
        try:
            await eventually(lambda: {m["text"] for m in stack.tg.sent(TG_TOKEN, 4242)}
                             == set(texts), timeout=60)
            await asyncio.sleep(0.5)
        finally:
            stop(second)
    finally:
        stop(first)
    counts = Counter(m["text"] for m in stack.tg.sent(TG_TOKEN, 4242))
    repeated = [t for t, n in counts.items() if n > 1]
    assert len(repeated) <= 1, repeated
    # and they arrived in order, but for the one repeat
    order = [m["text"] for m in stack.tg.sent(TG_TOKEN, 4242)]
    deduped = list(dict.fromkeys(order))
    assert deduped == texts


async def test_a_killed_inbox_worker_loses_nothing_and_answers_once(stack: Stack) -> None:
    await stack.telegram("webhook")
    first = start_worker(stack)
    try:
        for i in range(40):
            stack.tg.user_says(TG_TOKEN, 2000 + i % 10, "help")
        await eventually(lambda: len(stack.tg.sent(TG_TOKEN)) >= 5, timeout=30)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        second = start_worker(stack)
        try:
            def everyone_answered() -> bool:
                per = Counter(m["chat_id"] for m in stack.tg.sent(TG_TOKEN))
                return len(per) == 10 and all(n >= 4 for n in per.values())

            await eventually(everyone_answered, timeout=60)
            await asyncio.sleep(1.0)
        finally:
            stop(second)
    finally:
        stop(first)
    per_chat = Counter(m["chat_id"] for m in stack.tg.sent(TG_TOKEN))
    # every chat got its 4 answers; at most the sends in flight at the kill (one per chat,
    # ten chats) could repeat
    assert all(n >= 4 for n in per_chat.values()) and len(per_chat) == 10
    assert sum(per_chat.values()) - 40 <= 10

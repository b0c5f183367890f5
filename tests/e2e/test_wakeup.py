"""Wake-ups across processes (``runners.wakeup``): work another process stores wakes this
process's loops at once (PostgreSQL NOTIFY; SQLite data_version), and a web process with a
separate worker process answers without waiting for the worker's poll."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import insert

from panelpilot.context import Context
from panelpilot.db.base import utcnow
from panelpilot.db.engine import Database
from panelpilot.inbox.models import InboundEvent
from panelpilot.outbox.enqueue import enqueue
from panelpilot.runners.wakeup import INBOX, OUTBOX, notify, wake_from_other_processes
from panelpilot.settings import Settings
from tests.e2e.harness import TG_TOKEN, Stack, build_stack, eventually
from tests.e2e.test_workers import start_worker, stop


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    async for s in build_stack(settings, workers=False):
        yield s


async def _signals(ctx: Context) -> tuple[asyncio.Event, asyncio.Event]:
    return (ctx.singleton("inbox_signal", asyncio.Event),
            ctx.singleton("outbox_signal", asyncio.Event))


async def test_stored_work_of_another_process_sets_the_right_signal(stack: Stack) -> None:
    ctx = stack.ctx
    inbox, outbox = await _signals(ctx)
    stop_watching = asyncio.Event()
    watcher = asyncio.create_task(wake_from_other_processes(ctx, stop_watching))
    other = Database(ctx.settings.database_url)  # "another process": connections of its own
    try:
        await asyncio.sleep(0.3)  # listening
        inbox.clear()
        outbox.clear()
        channel_id = await stack.telegram("polling")
        async with other.session(stack.workspace_id) as s:
            await enqueue(s, stack.workspace_id, channel_id=channel_id, kind="telegram",
                          chat_id="5", text="hi", key="k")
            await notify(ctx, s, OUTBOX)
        await asyncio.wait_for(outbox.wait(), 5)
        async with other.connection() as conn:
            await conn.execute(insert(InboundEvent).values(
                workspace_id=stack.workspace_id, channel_id=channel_id, event_key="e1",
                chat_key="x", kind="message", payload={}, status="new", attempts=0,
                received_at=utcnow(), outcome="", error=""))
            await notify(ctx, conn, INBOX)
        await asyncio.wait_for(inbox.wait(), 5)
    finally:
        stop_watching.set()
        await asyncio.wait_for(watcher, 5)
        await other.dispose()


async def test_a_worker_process_answers_a_webhook_at_once_despite_a_slow_poll(
        stack: Stack) -> None:
    await stack.telegram("webhook")
    # Polls 30 s apart: an answer within seconds came from a wake-up.
    worker = start_worker(stack, PANELPILOT_INBOX_POLL_INTERVAL="30",
                          PANELPILOT_OUTBOX_POLL_INTERVAL="30")
    try:
        # The worker looks once as it starts: the first answer says it is up and waiting.
        stack.tg.user_says(TG_TOKEN, 4099, "help")
        await eventually(lambda: stack.tg.sent(TG_TOKEN, 4099), timeout=60)
        for n in range(3):
            said = time.monotonic()
            stack.tg.user_says(TG_TOKEN, 4100 + n, "help")
            await eventually(lambda n=n: stack.tg.sent(TG_TOKEN, 4100 + n), timeout=20)
            assert time.monotonic() - said < 10
    finally:
        stop(worker)

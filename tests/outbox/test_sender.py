"""The sender over the Telegram simulator: rate limits, 429, retries, failures, migration."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from panelpilot.outbox.enqueue import enqueue, wake_senders
from panelpilot.outbox.models import OutboundAttempt, OutboundMessage
from panelpilot.settings import Settings
from panelpilot.sim.telegram import Limits
from tests.e2e.harness import TG_TOKEN, Stack, build_stack, eventually


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    async for s in build_stack(settings):
        yield s


async def _queue(stack: Stack, channel_id: int, chat_id: int, texts: list[str],
                 prefix: str = "m") -> None:
    async with stack.ctx.db.session(stack.workspace_id) as s:
        for i, text in enumerate(texts):
            await enqueue(s, stack.workspace_id, channel_id=channel_id, kind="telegram",
                          chat_id=str(chat_id), text=text, key=f"{prefix}{i}")
    wake_senders(stack.ctx)


async def _rows(stack: Stack) -> list[OutboundMessage]:
    async with stack.ctx.db.platform_session() as s:
        return list((await s.execute(select(OutboundMessage).order_by(OutboundMessage.id)))
                    .scalars())


async def test_the_same_key_never_makes_a_second_message(stack: Stack) -> None:
    channel_id = await stack.telegram("polling")
    await _queue(stack, channel_id, 7, ["one"])
    await _queue(stack, channel_id, 7, ["one again"])
    await eventually(lambda: stack.tg.sent(TG_TOKEN, 7))
    await asyncio.sleep(0.2)
    assert [m["text"] for m in stack.tg.sent(TG_TOKEN, 7)] == ["one"]


async def test_long_text_goes_in_parts_in_order(stack: Stack) -> None:
    channel_id = await stack.telegram("polling")
    text = "\n".join(f"line {i:04d} " + "x" * 80 for i in range(120))
    await _queue(stack, channel_id, 8, [text])
    sent = await eventually(lambda: len(stack.tg.sent(TG_TOKEN, 8)) >= 3 and
                            stack.tg.sent(TG_TOKEN, 8), timeout=20)
    assert "\n".join(m["text"] for m in sent) == text


async def test_a_429_pauses_the_bot_and_nothing_is_lost(settings: Settings) -> None:
    # The simulator allows less than we think: it answers 429 with retry_after, we obey.
    async for one in build_stack(settings, tg_limits=Limits(bot_per_second=5, bot_burst=2,
                                                            private_per_second=None)):
        stack = one
        channel_id = await stack.telegram("polling")
        texts = [f"msg {i}" for i in range(25)]
        for chat in range(1, 6):
            await _queue(stack, channel_id, chat, texts[chat * 5 - 5: chat * 5], f"c{chat}-")
        await eventually(lambda s=stack: len(s.tg.sent(TG_TOKEN)) == 25, timeout=30)
        assert stack.tg.rate_limited > 0
        assert sorted(m["text"] for m in stack.tg.sent(TG_TOKEN)) == sorted(texts)
        async def all_sent(s: Stack = stack) -> bool:
            return {r.status for r in await _rows(s)} == {"sent"}

        await eventually(all_sent)
        async with stack.ctx.db.platform_session() as s:
            reasons = {a.reason for a in (await s.execute(select(OutboundAttempt))).scalars()}
        assert "rate_limited" in reasons


async def test_server_errors_are_retried_then_failed_and_can_be_retried_by_an_admin(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("panelpilot.outbox.sender.BACKOFF_BASE", 0.05)
    channel_id = await stack.telegram("polling")
    stack.tg.fail_next(TG_TOKEN, status=500, count=2, method="sendMessage")
    await _queue(stack, channel_id, 9, ["after two failures"])
    await eventually(lambda: stack.tg.sent(TG_TOKEN, 9))

    async def first_sent() -> OutboundMessage | None:
        rows = await _rows(stack)
        return rows[0] if rows and rows[0].status == "sent" else None

    row = await eventually(first_sent)  # the result is committed just after the send
    assert row.attempts == 3
    async with stack.ctx.db.platform_session() as s:
        attempts = list((await s.execute(select(OutboundAttempt).order_by(OutboundAttempt.id)))
                        .scalars())
    assert [a.ok for a in attempts] == [False, False, True]

    # A message that keeps failing lands in the failed list after max attempts.
    async with stack.ctx.db.session(stack.workspace_id) as s:
        await enqueue(s, stack.workspace_id, channel_id=channel_id, kind="telegram",
                      chat_id="10", text="doomed", key="doomed", max_attempts=3)
    stack.tg.fail_next(TG_TOKEN, status=502, count=3, method="sendMessage")
    wake_senders(stack.ctx)

    async def failed() -> OutboundMessage | None:
        rows = [r for r in await _rows(stack) if r.chat_id == "10"]
        return rows[0] if rows and rows[0].status == "failed" else None

    doomed = await eventually(failed)
    assert doomed.attempts == 3 and "gave up" in doomed.last_error
    owner = await _owner_token(stack)
    r = await stack.http.post(f"/api/v1/workspaces/acme/outbox/{doomed.id}/retry",
                              headers={"Authorization": f"Bearer {owner}"})
    assert r.status_code == 200 and r.json()["status"] in ("queued", "sending", "sent")
    await eventually(lambda: stack.tg.sent(TG_TOKEN, 10))
    failed_list = await stack.http.get("/api/v1/workspaces/acme/outbox",
                                       params={"status": "failed"},
                                       headers={"Authorization": f"Bearer {owner}"})
    assert failed_list.json() == []


async def _owner_token(stack: Stack) -> str:
    from panelpilot.tenancy.service import create_token

    async with stack.ctx.db.session(stack.workspace_id) as s:
        return (await create_token(s, stack.workspace_id, name="t", role="owner")).plaintext


async def test_chat_not_found_is_permanent(stack: Stack) -> None:
    channel_id = await stack.telegram("polling")
    stack.tg.mark_unknown(TG_TOKEN, 11)
    await _queue(stack, channel_id, 11, ["nobody there"])

    async def failed() -> OutboundMessage | None:
        rows = await _rows(stack)
        return rows[0] if rows and rows[0].status == "failed" else None

    row = await eventually(failed)
    assert row.error_reason == "chat_not_found" and row.attempts == 1


async def test_a_migrated_group_is_rekeyed_and_the_message_resent_once(stack: Stack) -> None:
    channel_id = await stack.telegram("polling")
    stack.tg.user_says(TG_TOKEN, -300, "hello", chat_type="group")
    await asyncio.sleep(0.5)
    stack.tg.migrate_group(TG_TOKEN, -300, -1001000000300)
    await _queue(stack, channel_id, -300, ["to the old id"])
    sent = await eventually(lambda: stack.tg.sent(TG_TOKEN, -1001000000300))
    assert [m["text"] for m in sent] == ["to the old id"]

    async def sent_row() -> OutboundMessage | None:
        rows = await _rows(stack)
        return rows[0] if rows and rows[0].status == "sent" else None

    row = await eventually(sent_row)
    assert row.chat_id == "-1001000000300"

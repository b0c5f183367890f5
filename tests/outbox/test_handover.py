"""A turn's first answer goes straight to its process's sender, queued already claimed
(``enqueue_claimed``): only when no older message of the chat is waiting, only a text that
fits in one message, once per key; and a process that dies leaves it to the others after the
lease, like any claim."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select

from panelpilot.db.base import utcnow
from panelpilot.outbox.enqueue import Claimed, enqueue, enqueue_claimed
from panelpilot.outbox.models import OutboundAttempt, OutboundMessage, SendStatus
from panelpilot.outbox.ratelimit import SqlLimiter
from panelpilot.outbox.sender import Job, claim, local_sender
from panelpilot.settings import Settings
from tests.e2e.harness import TG_TOKEN, Stack, build_stack, eventually


@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    async for s in build_stack(settings, workers=False):
        yield s


async def _claimed(stack: Stack, channel_id: int, chat: str, text: str, key: str,
                   lease_seconds: float = 60) -> int | None:
    async with stack.ctx.db.connection() as conn:
        [made] = await enqueue_claimed(
            conn, [Claimed(stack.workspace_id, channel_id, "telegram", chat, text, key)],
            utcnow() + timedelta(seconds=lease_seconds))
        return made


async def _rows(stack: Stack) -> list[OutboundMessage]:
    async with stack.ctx.db.read_session(stack.workspace_id) as s:
        return list((await s.execute(select(OutboundMessage).order_by(OutboundMessage.id)))
                    .scalars())


async def _once_recorded(stack: Stack) -> list[OutboundMessage] | None:
    """The rows, once the first send's result is committed (just after the simulator has the
    message)."""
    rows = await _rows(stack)
    return rows if rows and rows[0].status == SendStatus.SENT else None


async def test_queued_claimed_only_when_the_chat_has_nothing_older_waiting(stack: Stack) -> None:
    channel_id = await stack.telegram("polling")
    first = await _claimed(stack, channel_id, "7", "hello", "a")
    assert first is not None
    [row] = await _rows(stack)
    assert (row.status, row.attempts, row.locked_until is not None) == (SendStatus.SENDING, 1,
                                                                       True)
    # The chat has a message being sent: the next one must wait its turn in the queue.
    assert await _claimed(stack, channel_id, "7", "second", "b") is None
    # Another chat is free; the same key never makes a second message.
    assert await _claimed(stack, channel_id, "8", "other chat", "c") is not None
    assert await _claimed(stack, channel_id, "9", "again", "c") is None
    # Too long for one message: it is queued in parts the usual way instead.
    assert await _claimed(stack, channel_id, "10", "x" * 5000, "d") is None
    assert [r.chat_id for r in await _rows(stack)] == ["7", "8"]


async def test_many_at_once_the_first_of_each_free_chat(stack: Stack) -> None:
    channel_id = await stack.telegram("polling")
    assert await _claimed(stack, channel_id, "7", "waiting", "w") is not None

    def text(chat: str, key: str, body: str = "hi") -> Claimed:
        return Claimed(stack.workspace_id, channel_id, "telegram", chat, body, key)

    async with stack.ctx.db.connection() as conn:
        made = await enqueue_claimed(conn, [
            text("7", "a"), text("8", "b"), text("8", "c"), text("9", "w"),
            text("10", "d", "x" * 5000), text("11", "e")], utcnow() + timedelta(seconds=60))
    # Chat 7 has a message being sent, chat 8 takes its first only, "w" was queued before,
    # chat 10's text needs parts.
    assert [m is not None for m in made] == [False, True, False, False, False, True]
    rows = {r.id: r for r in await _rows(stack)}
    eight, eleven = made[1], made[5]
    assert eight is not None and eleven is not None
    assert (rows[eight].chat_id, rows[eight].idempotency_key) == ("8", "b")
    assert (rows[eleven].chat_id, rows[eleven].status) == ("11", SendStatus.SENDING)


async def test_a_handed_over_message_of_a_dead_process_is_sent_after_its_lease(
        stack: Stack) -> None:
    channel_id = await stack.telegram("polling")
    # Handed over by a process that died at once: its lease has run out.
    job_id = await _claimed(stack, channel_id, "7", "orphan", "a", lease_seconds=-1)
    async with stack.ctx.db.session(stack.workspace_id) as s:
        await enqueue(s, stack.workspace_id, channel_id=channel_id, kind="telegram",
                      chat_id="7", text="later", key="b")
    jobs = await claim(stack.ctx.db, 10)
    assert [(j.id, j.attempts) for j in jobs] == [(job_id, 2)]  # first the orphan, once


async def test_a_reply_is_sent_once_with_one_attempt_logged(stack: Stack) -> None:
    await stack.telegram("webhook")
    stack.start_workers()
    try:
        stack.tg.user_says(TG_TOKEN, 31337, "help")
        await eventually(lambda: stack.tg.sent(TG_TOKEN, 31337), timeout=20)
        [row] = await eventually(lambda: _once_recorded(stack))
    finally:
        await stack.stop_workers()
    assert row.attempts == 1 and row.external_id
    async with stack.ctx.db.read_session(stack.workspace_id) as s:
        attempts = list((await s.execute(select(OutboundAttempt))).scalars())
    assert [(a.message_id, a.number, a.ok) for a in attempts] == [(row.id, 1, True)]
    assert len(stack.tg.sent(TG_TOKEN, 31337)) == 1



@pytest.fixture
async def working(settings: Settings) -> AsyncIterator[Stack]:
    async for s in build_stack(settings):
        yield s


async def test_with_buckets_in_the_database_the_answer_is_admitted_in_its_turn(
        working: Stack) -> None:
    # The rate limiter is asked once at the end of the turn's transaction, for every reply it
    # hands over; the send does not ask again, and no claim takes the message.
    stack = working
    sender = await eventually(lambda: local_sender(stack.ctx))
    limiter = sender.limiter = SqlLimiter(stack.ctx.db)
    asked_for_batch = limiter.admit_many
    asked_alone: list[object] = []
    batches: list[list[tuple[bool, float]]] = []

    async def admit(*args: object, **kwargs: object) -> tuple[bool, float]:
        asked_alone.append(args)
        raise AssertionError("asked alone")

    async def admit_many(*args: object, **kwargs: object) -> list[tuple[bool, float]]:
        answers = await asked_for_batch(*args, **kwargs)  # type: ignore[arg-type]
        batches.append(answers)
        return answers

    handed: list[Job] = []
    hand_over = sender.hand_over

    def record(job: Job) -> None:
        handed.append(job)
        hand_over(job)

    limiter.admit = admit  # type: ignore[method-assign]
    limiter.admit_many = admit_many  # type: ignore[method-assign]
    sender.hand_over = record  # type: ignore[method-assign]
    await stack.telegram("webhook")
    stack.tg.user_says(TG_TOKEN, 77, "help")
    assert await eventually(lambda: stack.tg.sent(TG_TOKEN, 77))
    [row] = await eventually(lambda: _once_recorded(stack))
    assert (row.status, row.attempts) == (SendStatus.SENT, 1)
    assert asked_alone == [] and batches == [[(True, 0.0)]]
    assert [(job.id, job.admission) for job in handed] == [(row.id, (True, 0.0))]

"""The sender: claim queued messages, wait for the rate limits, send, record every attempt.

Messages come by claims (each with its chat's state, and with buckets in the database the rate
limiter's answer, read in the claim's transaction) or handed over by a turn of this process
that queued them already claimed (``hand_over``). Results are written in shared transactions.

Failures are sorted by what they mean. A 429 pauses that channel for the asked time and the
message waits (other workspaces go on). Blocked and chat-not-found are permanent: no retry, and
a blocked person gets nothing more until they write again. A group that became a supergroup
is re-keyed and the message resent once. A disconnected WhatsApp account holds its messages
until it is authorized again. Anything else is retried with growing, jittered gaps, and after
the last attempt the message lands in the failed list, from where an admin can retry it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import Select, and_, bindparam, case, exists, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from panelpilot.channels.base import (
    BLOCKED,
    CHAT_NOT_FOUND,
    DISCONNECTED,
    MIGRATED,
    OUTSIDE_WINDOW,
    RATE_LIMITED,
    Button,
    SendError,
)
from panelpilot.channels.drivers import ChannelCreds, driver_for
from panelpilot.channels.models import ChannelAccount, ChannelKind, ChannelStatus
from panelpilot.channels.service import load_creds, set_status
from panelpilot.chats import service as chats
from panelpilot.chats.service import ChatState
from panelpilot.context import Context
from panelpilot.db import fast
from panelpilot.db.base import utcnow
from panelpilot.db.claims import Claimer, ClaimQuery, claim_rows, now_param
from panelpilot.db.engine import Database
from panelpilot.db.groupcommit import GroupCommit
from panelpilot.outbox.models import OutboundAttempt, OutboundMessage, SendStatus
from panelpilot.outbox.ratelimit import Limit, Limiter, SqlLimiter, make_limiter
from panelpilot.runners.claimloop import claim_loop
from panelpilot.runners.wakeup import OUTBOX, running_here

log = logging.getLogger(__name__)
LEASE_SECONDS = 60.0
HOLD_HORIZON = 2.0  # a send that would wait longer than this goes back to the queue
HANDOVER_LIMIT = 256  # messages handed over by turns and not yet sent, at most
META_WINDOW = timedelta(hours=24)
BACKOFF_BASE = 2.0
BACKOFF_CAP = 900.0


@dataclass(frozen=True)
class Job:
    id: int
    workspace_id: int
    channel_id: int
    chat_id: str
    kind: str
    text: str
    keyboard: list[Any] | None
    reply_to: str | None
    attempts: int
    max_attempts: int
    migrated_resend: bool
    chat: ChatState | None = None  # read with the claim; None: the chat never wrote to us
    # The rate limiter's answer, when it was asked in the claim's transaction (SqlLimiter):
    # (admitted, seconds to wait).
    admission: tuple[bool, float] | None = None


def _ready(msg: Any, now: Any) -> Any:
    """Due and queued, or claimed by a sender whose lease ran out."""
    return or_(and_(msg.status == SendStatus.QUEUED, msg.next_attempt_at <= now),
               and_(msg.status == SendStatus.SENDING, msg.locked_until < now))


def _claimable() -> Select[Any]:
    """Sendable message ids, oldest first; parameter ``now``.

    A message may go when it is ready and no older message of its chat is due or being sent:
    per chat, the oldest due-or-sending message, when it is ready itself. One scan of the
    pending messages and a GROUP BY find them, whatever the planner's statistics say (the
    NOT EXISTS form let PostgreSQL, with statistics from before a broadcast was queued, re-read
    every pending message for each one: 2.3 s per claim at 5,000 queued).
    """
    msg, now = OutboundMessage, now_param()
    first = func.min(msg.id)
    channel_ok = exists().where(
        ChannelAccount.id == msg.channel_id, ChannelAccount.status == ChannelStatus.ACTIVE,
        or_(ChannelAccount.paused_until.is_(None), ChannelAccount.paused_until <= now),
    )
    return (
        select(first)
        # The IN lets the database walk the status index instead of every message ever sent.
        .where(msg.status.in_((SendStatus.QUEUED, SendStatus.SENDING)),
               or_(and_(msg.status == SendStatus.QUEUED, msg.next_attempt_at <= now),
                   msg.status == SendStatus.SENDING),
               channel_ok)
        .group_by(msg.channel_id, msg.chat_id)
        .having(func.min(case((_ready(msg, now), msg.id))) == first)
        .order_by(first)
    )


def _query() -> ClaimQuery:
    msg, now = OutboundMessage, now_param()
    return ClaimQuery(
        msg, _claimable(), _ready(msg, now),
        values={"status": SendStatus.SENDING, "locked_until": bindparam("until"),
                "attempts": msg.attempts + 1},
        returning=(msg.id, msg.workspace_id, msg.channel_id, msg.chat_id, msg.kind, msg.text,
                   msg.keyboard, msg.reply_to, msg.attempts, msg.max_attempts,
                   msg.migrated_resend))


_QUERY = _query()


Admit = Callable[[AsyncConnection, list[Job]], Awaitable[dict[int, tuple[bool, float]]]]


async def claim(db: Database, limit: int, lease: float = LEASE_SECONDS,
                probe: bool = True, admit: Admit | None = None,
                via: Claimer | None = None) -> list[Job]:
    """Take up to ``limit`` ready messages: per chat only the oldest ready one, each with its
    chat's state (reachable, type, last message) read in the same transaction, and with
    ``admit``, the rate limiter's answer for it too."""
    jobs: list[Job] = []

    async def then(conn: AsyncConnection, rows: list[Any]) -> None:
        states = await chats.find_many(conn, {(row[2], row[3]) for row in rows})
        jobs.extend(_job(row, states.get((row[2], row[3]))) for row in rows)
        if admit is not None:
            answers = await admit(conn, jobs)
            jobs[:] = [dataclasses.replace(job, admission=answers.get(job.id)) for job in jobs]

    await claim_rows(db, _QUERY, limit, lease, probe=probe, then=then, via=via)
    return sorted(jobs, key=lambda j: j.id)


def _job(row: Any, chat: ChatState | None) -> Job:
    return dataclasses.replace(Job(*row), chat=chat)


def _keyboard(raw: list[Any] | None) -> list[list[Button]] | None:
    if not raw:
        return None
    return [[Button(**b) for b in row] for row in raw]


def _refusal(job: Job, creds: ChannelCreds) -> Literal["held"] | tuple[str, str] | None:
    """Why a claimed message must not be sent now: "held" (its channel is not active; it
    waits), or a (reason, detail) that fails it without a try; None when it may go."""
    if creds.status != ChannelStatus.ACTIVE:
        return "held"
    if job.kind != "text":
        return None
    chat = job.chat
    if chat is not None and not chat.reachable:
        return BLOCKED, f"not sent: {chat.unreachable_reason or 'unreachable'}"
    if creds.kind == ChannelKind.META and (
            chat is None or chat.last_inbound_at is None
            or utcnow() - chat.last_inbound_at > META_WINDOW):
        # Outside the 24-hour customer-service window only approved templates may go.
        return OUTSIDE_WINDOW, "not sent: the person's last message is older than 24 h"
    return None


def backoff(attempt: int) -> float:
    base = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** max(0, attempt - 1))
    return base * random.uniform(0.5, 1.5)


class Sender:
    def __init__(self, ctx: Context, limiter: Limiter | None = None,
                 lease: float = LEASE_SECONDS) -> None:
        self.ctx = ctx
        self.limiter = limiter or make_limiter(ctx.db, ctx.settings.redis_url)
        self.lease = lease
        # Results of sends are written in shared transactions: one commit for many sends.
        self.results = GroupCommit(ctx.db)
        self.taking_over = False  # True while this process's sender loop runs
        self._handed: set[asyncio.Task[str]] = set()

    def lease_until(self, conn: AsyncConnection) -> datetime | None:
        """The lease for a message handed over by a turn in this process (queued already
        claimed in ``conn``'s transaction, see ``enqueue_claimed``), or None when this sender
        takes none now.

        With buckets in the database, only in a transaction that collects end-of-transaction
        work: the rate limiter is asked there once for all the messages it hands over
        (``admit_at_end``); a send asking alone would lock its bot's bucket in a transaction
        of its own, and the sends of one bot would queue on that row.
        """
        if not self.taking_over or len(self._handed) >= HANDOVER_LIMIT:
            return None
        if isinstance(self.limiter, SqlLimiter) and not fast.collects(conn):
            return None
        return utcnow() + timedelta(seconds=self.lease)

    def admit_at_end(self, conn: AsyncConnection, job: Job) -> Admissions | None:
        """With buckets in the database, have the rate limiter answer for a handed-over
        message at the end of its transaction, with the others handed over in it; the
        answers, once committed, go with the messages to ``hand_over`` (``Admissions.of``)."""
        if not isinstance(self.limiter, SqlLimiter):
            return None
        admissions = fast.at_end(conn, "handed_admissions", lambda: Admissions(self))
        if admissions is not None:
            admissions.jobs.append(job)
        return admissions

    def hand_over(self, job: Job) -> None:
        """Send a message that was queued already claimed (its transaction has committed)."""
        task = asyncio.get_running_loop().create_task(_guarded(self, job))
        self._handed.add(task)
        task.add_done_callback(self._handed.discard)

    async def finish_handed(self, within: float) -> None:
        if self._handed:
            await asyncio.wait(set(self._handed), timeout=within)

    def _limits(self, job: Job, creds: ChannelCreds) -> list[tuple[str, Limit]]:
        chat_type = job.chat.chat_type if job.chat else "private"
        return [(key if not key.endswith(":chat") else f"{key}:{job.chat_id}", limit)
                for key, limit in driver_for(creds.kind).limits(self.ctx, creds, chat_type)]

    async def admit_claimed(self, conn: AsyncConnection,
                            jobs: list[Job]) -> dict[int, tuple[bool, float]]:
        """The rate limiter's answers for claimed messages, in the claim's transaction (only
        for a limiter in the database; others answer in ``send``)."""
        if not isinstance(self.limiter, SqlLimiter):
            return {}
        asked: list[tuple[int, list[tuple[str, Limit]]]] = []
        for job in jobs:
            creds = await load_creds(self.ctx, channel_id=job.channel_id)
            if creds is not None and _refusal(job, creds) is None and job.kind == "text":
                asked.append((job.id, self._limits(job, creds)))
        answers = await self.limiter.admit_many(conn, [(keys, HOLD_HORIZON) for _, keys in asked])
        return {job_id: answer for (job_id, _), answer in zip(asked, answers, strict=True)}

    async def send(self, job: Job) -> str:
        """Send one claimed message; returns what happened (for logs and tests)."""
        creds = await load_creds(self.ctx, channel_id=job.channel_id)
        if creds is None:
            await self._finish(job, SendStatus.FAILED, reason="channel_removed",
                               detail="the channel was removed", attempt=False)
            return "channel_removed"
        refusal = _refusal(job, creds)
        if refusal == "held":
            await self._requeue(job, delay=5.0, count_attempt=False)
            return "held"
        if refusal is not None:
            reason, detail = refusal
            await self._finish(job, SendStatus.FAILED, reason=reason, detail=detail,
                               attempt=False)
            return reason
        driver = driver_for(creds.kind)
        if job.kind == "text":
            admitted, wait = job.admission or await self.limiter.admit(
                self._limits(job, creds), HOLD_HORIZON)
            if not admitted:
                await self._requeue(job, delay=wait, count_attempt=False)
                return "deferred"
            if wait > 0:
                await asyncio.sleep(wait)
        return await self._call(job, creds, driver)

    async def _call(self, job: Job, creds: ChannelCreds, driver: Any) -> str:
        client = driver.client(self.ctx, creds)
        started = time.perf_counter()
        try:
            if job.kind == "callback_answer":
                await client.answer_callback(job.reply_to or "")
                external = None
            else:
                external = await client.send_text(job.chat_id, job.text, reply_to=job.reply_to,
                                                  keyboard=_keyboard(job.keyboard))
        except SendError as exc:
            return await self._failed(job, creds, exc, started)
        except Exception as exc:  # a bug or an unexpected library error: retry like a 5xx
            log.exception("unexpected send failure", extra={"message_id": job.id})
            return await self._failed(job, creds, SendError("error", type(exc).__name__),
                                      started)
        await self._finish(job, SendStatus.SENT, external_id=external, started=started)
        return "sent"

    async def _failed(self, job: Job, creds: ChannelCreds, exc: SendError,
                      started: float) -> str:
        log.info("send failed", extra={"message_id": job.id, "reason": exc.reason,
                                       "channel": creds.key})
        if exc.reason == RATE_LIMITED:
            pause = exc.retry_after or 1.0
            await self._pause_channel(creds, pause)
            await self._requeue(job, delay=pause, count_attempt=False, exc=exc, started=started)
            return RATE_LIMITED
        if exc.reason == MIGRATED and exc.migrate_to and not job.migrated_resend:
            async with self.ctx.db.session(job.workspace_id) as session:
                await chats.migrate(session, job.workspace_id, job.channel_id, job.chat_id,
                                    exc.migrate_to)
                await session.execute(
                    update(OutboundMessage).where(OutboundMessage.id == job.id)
                    .values(chat_id=exc.migrate_to, migrated_resend=True)
                    .execution_options(synchronize_session=False))
            await self._requeue(job, delay=0, count_attempt=False, exc=exc, started=started)
            return MIGRATED
        if exc.reason == BLOCKED:
            async with self.ctx.db.session(job.workspace_id) as session:
                await chats.set_reachable(session, job.workspace_id, job.channel_id, job.chat_id,
                                          False, reason="blocked the bot")
        if exc.reason == DISCONNECTED:
            await set_status(self.ctx, creds.id, ChannelStatus.DISCONNECTED,
                             f"the platform refused our credentials: {exc.detail}"[:500])
            await self._requeue(job, delay=5.0, count_attempt=False, exc=exc, started=started)
            return DISCONNECTED
        if exc.permanent or exc.reason in (BLOCKED, CHAT_NOT_FOUND, OUTSIDE_WINDOW):
            await self._finish(job, SendStatus.FAILED, reason=exc.reason, detail=str(exc),
                               started=started)
            return exc.reason
        if job.attempts >= job.max_attempts:
            await self._finish(job, SendStatus.FAILED, reason=exc.reason,
                               detail=f"gave up after {job.attempts} attempts: {exc}",
                               started=started)
            return "gave_up"
        await self._requeue(job, delay=backoff(job.attempts), exc=exc, started=started)
        return "retry"

    async def _pause_channel(self, creds: ChannelCreds, seconds: float) -> None:
        until = utcnow() + timedelta(seconds=seconds)
        async with self.ctx.db.platform_session() as session:
            await session.execute(
                update(ChannelAccount).where(ChannelAccount.id == creds.id)
                .values(paused_until=until).execution_options(synchronize_session=False))
        for key, limit in driver_for(creds.kind).limits(self.ctx, creds, "private")[:1]:
            await self.limiter.pause(key, seconds, limit)

    @staticmethod
    async def _attempt(conn: Any, job: Job, *, ok: bool, reason: str, detail: str,
                       started: float | None) -> None:
        if started is None:
            return
        await fast.later(conn, _ATTEMPT, {
            "workspace_id": job.workspace_id, "message_id": job.id, "number": job.attempts,
            "started_at": utcnow(), "duration_ms": int((time.perf_counter() - started) * 1000),
            "ok": ok, "reason": reason[:40], "detail": detail[:1000]})

    async def _finish(self, job: Job, status: str, *, external_id: str | None = None,
                      reason: str = "", detail: str = "", started: float | None = None,
                      attempt: bool = True) -> None:
        params: dict[str, Any] = {"job_id": job.id, "claim_attempts": job.attempts,
                                  "status": status}
        if status == SendStatus.SENT:
            statement = _SENT
            params.update(sent_at=utcnow(), external_id=external_id,
                          delivery_status="sent" if external_id else None)
        else:
            statement = _FAILED
            params.update(error_reason=reason[:40], last_error=detail[:1000])

        async def write(session: Any) -> None:
            conn = await session.connection()
            await fast.later(conn, statement, params)
            if attempt:
                await self._attempt(conn, job, ok=status == SendStatus.SENT, reason=reason,
                                    detail=detail, started=started)

        await self.results.run(write)

    async def _requeue(self, job: Job, *, delay: float, count_attempt: bool = True,
                       exc: SendError | None = None, started: float | None = None) -> None:
        params: dict[str, Any] = {
            "job_id": job.id, "claim_attempts": job.attempts,
            "next_attempt_at": utcnow() + timedelta(seconds=max(0.0, delay)),
            "attempts": job.attempts if count_attempt else job.attempts - 1,
            "error_reason": exc.reason[:40] if exc else "",
            "last_error": str(exc)[:1000] if exc else ""}

        async def write(session: Any) -> None:
            conn = await session.connection()
            await fast.later(conn, _REQUEUE_WITH_ERROR if exc is not None else _REQUEUE, params)
            if exc is not None:
                await self._attempt(conn, job, ok=False, reason=exc.reason, detail=str(exc),
                                    started=started)

        await self.results.run(write)


# Only the claim that holds the message may record its result: same attempt number.
_THIS_CLAIM = update(OutboundMessage).where(
    OutboundMessage.id == bindparam("job_id"),
    OutboundMessage.attempts == bindparam("claim_attempts"))
_SENT = _THIS_CLAIM.values(status=bindparam("status"), locked_until=None,
                           sent_at=bindparam("sent_at"), external_id=bindparam("external_id"),
                           delivery_status=bindparam("delivery_status"))
_FAILED = _THIS_CLAIM.values(status=bindparam("status"), locked_until=None,
                             error_reason=bindparam("error_reason"),
                             last_error=bindparam("last_error"))
_REQUEUE = _THIS_CLAIM.values(status=SendStatus.QUEUED, locked_until=None,
                              next_attempt_at=bindparam("next_attempt_at"),
                              attempts=bindparam("attempts"))
_REQUEUE_WITH_ERROR = _REQUEUE.values(error_reason=bindparam("error_reason"),
                                      last_error=bindparam("last_error"))
_ATTEMPT = insert(OutboundAttempt)


class Admissions:
    """The rate limiter's answers for the messages a transaction hands over, asked once for
    all of them at its end (two statements for the whole batch, as a claim does)."""

    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self.jobs: list[Job] = []
        self.answers: dict[int, tuple[bool, float]] = {}

    async def run(self, conn: AsyncConnection) -> None:
        self.answers = await self.sender.admit_claimed(conn, self.jobs)

    def of(self, job: Job) -> Job:
        """The job with its answer (none: the send asks the limiter itself)."""
        answer = self.answers.get(job.id)
        return job if answer is None else dataclasses.replace(job, admission=answer)


def local_sender(ctx: Context) -> Sender | None:
    """This process's running sender, which takes over replies queued already claimed."""
    sender: Sender | None = ctx.state.get("local_sender")
    return sender if sender is not None and sender.taking_over else None


async def sender_loop(ctx: Context, stop: asyncio.Event, concurrency: int = 8) -> None:
    # A claim must outlive the slowest send (rate wait + HTTP timeout): a lease that ran out
    # while the request was still in flight would let another sender repeat the message.
    lease = max(ctx.settings.outbox_lease_seconds, ctx.settings.http_timeout + HOLD_HORIZON + 5)
    sender = Sender(ctx, lease=lease)
    ctx.state["local_sender"] = sender
    sender.taking_over = True

    admit = sender.admit_claimed if isinstance(sender.limiter, SqlLimiter) else None
    via = Claimer(ctx.db)

    async def take(limit: int, told: bool) -> list[Job]:
        return await claim(ctx.db, limit, lease, probe=not told, admit=admit, via=via)

    try:
        with running_here(ctx, OUTBOX):
            await claim_loop(stop=stop, signal=ctx.singleton("outbox_signal", asyncio.Event),
                             capacity=max(16, concurrency * 8),
                             idle=ctx.settings.outbox_poll_interval, claim=take,
                             run=lambda job: _guarded(sender, job), what="outbound messages")
    finally:
        sender.taking_over = False
        if ctx.state.get("local_sender") is sender:
            del ctx.state["local_sender"]
        await sender.finish_handed(within=30)


async def _guarded(sender: Sender, job: Job) -> str:
    try:
        return await sender.send(job)
    except Exception:
        log.exception("sender crashed on a message", extra={"message_id": job.id})
        return "crashed"


async def retry_failed(ctx: Context, workspace_id: int, message_id: int) -> bool:
    """Put a failed message back in the queue (the admin's "retry" in the failed list)."""
    async with ctx.db.session(workspace_id) as session:
        result = await session.execute(
            update(OutboundMessage)
            .where(OutboundMessage.id == message_id, OutboundMessage.status == SendStatus.FAILED)
            .values(status=SendStatus.QUEUED, attempts=0, next_attempt_at=utcnow(),
                    error_reason="", last_error="")
            .execution_options(synchronize_session=False))
        return getattr(result, "rowcount", 0) == 1

"""Process one claimed inbound event: the spine from normalized message to committed effects.

1. The event comes normalized, with what its turn needs (chat, workspace, flow), from the
   inbox worker's claim (``inbox.context``); called directly, this reads them itself. Other
   kinds get the bookkeeping they ask for (chat reachability, group migration, delivery
   statuses, account state); echoes of our own sends stop here.
2. A person's message becomes a Turn and goes through the conversation modules (which may read
   panels over HTTP, outside any transaction).
3. Everything the turn produced is written in one transaction with the event's "done" mark
   (shared with other turns finishing at the same moment): replies and other messages into the
   outbox, flow state, the modules' own writes. The first reply is handed straight to this
   process's sender when it can be (``outbox.enqueue.enqueue_claimed``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from panelpilot.channels.base import Inbound, InboundKind
from panelpilot.channels.drivers import ChannelCreds, driver_for
from panelpilot.channels.models import ChannelStatus
from panelpilot.channels.service import load_creds, set_status
from panelpilot.chats import service as chats
from panelpilot.chats.models import Chat
from panelpilot.chats.service import ChatState
from panelpilot.context import Context
from panelpilot.conversation.models import FlowState
from panelpilot.conversation.modules import converse
from panelpilot.conversation.turn import FlowInfo, Turn
from panelpilot.db import fast
from panelpilot.db.base import utcnow
from panelpilot.inbox import context as turn_context
from panelpilot.inbox.claim import Claim
from panelpilot.inbox.models import EventStatus, InboundEvent
from panelpilot.logs import workspace_var
from panelpilot.outbox.enqueue import (
    Claimed,
    enqueue,
    enqueue_claimed,
    keyboard_json,
    wake_senders,
)
from panelpilot.outbox.models import OutboundMessage
from panelpilot.outbox.sender import Admissions, Job, Sender, local_sender
from panelpilot.runners.wakeup import OUTBOX, notify

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
DELIVERY_RANK = {"sent": 1, "delivered": 2, "read": 3}
CONNECTED_STATES = {"authorized"}


class LostClaim(Exception):
    """Another worker took the event over (our lease ran out): our results are discarded."""


async def process(ctx: Context, claim: Claim) -> str:
    """Handle one event; returns its outcome."""
    token = workspace_var.set(str(claim.workspace_id))
    try:
        if claim.attempts > MAX_ATTEMPTS:
            await _finish(ctx, claim, status=EventStatus.FAILED, outcome="gave up",
                          error=f"processing failed {MAX_ATTEMPTS} times")
            return "gave up"
        return await _process(ctx, claim)
    finally:
        workspace_var.reset(token)


async def _process(ctx: Context, claim: Claim) -> str:
    creds = await load_creds(ctx, channel_id=claim.channel_id)
    prepared: turn_context.Prepared | None = claim.prepared
    inbound: Inbound | None = None
    if prepared is not None:
        inbound = prepared.inbound
    elif creds is not None:
        payload = claim.payload if claim.payload is not None else await _payload(ctx, claim)
        if payload is None:
            return "gone"
        inbound = driver_for(creds.kind).normalize(payload, creds)
    if creds is None or inbound is None:
        await _finish(ctx, claim, outcome="channel removed")
        return "channel removed"
    if creds.status == ChannelStatus.DISABLED:
        await _finish(ctx, claim, inbound=inbound, outcome="channel disabled")
        return "channel disabled"
    handler = BOOKKEEPING.get(inbound.kind)
    if handler is not None:
        outcome = await handler(ctx, claim, creds, inbound)
        return outcome
    if inbound.kind not in (InboundKind.MESSAGE, InboundKind.CALLBACK) or not inbound.chat_id:
        await _finish(ctx, claim, inbound=inbound, outcome=inbound.kind.value)
        return inbound.kind.value
    context = prepared.context if prepared is not None else None
    if context is None:
        context = await turn_context.load(ctx, claim.workspace_id, creds.id, inbound.chat_id)
    if context is None:
        await _finish(ctx, claim, inbound=inbound, outcome="workspace removed")
        return "workspace removed"

    turn = await _start_turn(ctx, claim, creds, inbound, context)
    if inbound.kind == InboundKind.CALLBACK and inbound.callback_id:
        cb_id = inbound.callback_id

        async def answer_callback(session: AsyncSession) -> None:
            # Telegram shows a spinner on the button until it is answered; answer exactly once.
            await enqueue(session, claim.workspace_id, channel_id=creds.id, kind=creds.kind,
                          chat_id=inbound.chat_id or "", text="", key=f"cb:{cb_id}",
                          message_kind="callback_answer", reply_to=cb_id,
                          source_event_id=claim.id, purpose="reply")

        turn.write(answer_callback)
    try:
        await converse(turn)
    except Exception:
        # A module failed: the customer hears nothing technical; the event is retried and
        # after MAX_ATTEMPTS set aside with the error for the admin.
        log.exception("conversation failed", extra={"event": claim.id})
        raise
    await _commit_turn(ctx, claim, creds, turn)
    return turn.outcome


async def _payload(ctx: Context, claim: Claim) -> dict[str, Any] | None:
    async with ctx.db.read_session(claim.workspace_id) as session:
        event = await session.get(InboundEvent, claim.id)
        return None if event is None else event.payload


_NOTE_SEEN = update(Chat).where(Chat.id == bindparam("pk")).values(
    last_inbound_at=bindparam("seen"))
_NOTE_SEEN_TITLE = _NOTE_SEEN.values(title=bindparam("new_title"))


async def _start_turn(ctx: Context, claim: Claim, creds: ChannelCreds, inbound: Inbound,
                      context: turn_context.TurnContext) -> Turn:
    assert inbound.chat_id is not None
    title = inbound.chat_title or inbound.sender_name
    chat = context.chat
    if chat is None or (not chat.reachable and chat.chat_type == "private"):
        # A new chat (or a person back after blocking us) is written now; a known chat's
        # "last seen" is written with the turn's results.
        chat = await turn_context.remember_chat(
            ctx, claim.workspace_id, creds.id, inbound.chat_id,
            chat_type=inbound.chat_type or "private", title=title, known=chat is not None)
    flow = None
    if context.flow is not None and context.flow.expires_at > utcnow():
        flow = FlowInfo(context.flow.module, context.flow.step, dict(context.flow.data or {}))
    turn = Turn(ctx=ctx, workspace_id=claim.workspace_id, workspace_slug=context.workspace_slug,
                workspace_settings=context.workspace_settings, channel=creds, chat=chat,
                message=inbound, event_id=claim.id, flow=flow,
                config_version=context.config_version, chat_context=context.chat_context)
    seen = inbound.occurred_at or utcnow()
    new_title = (title or "")[:200]

    async def note_seen(session: AsyncSession) -> None:
        conn = await session.connection()
        if new_title and new_title != chat.title:
            await fast.later(conn, _NOTE_SEEN_TITLE, {"pk": chat.pk, "seen": seen,
                                                    "new_title": new_title})
        else:
            await fast.later(conn, _NOTE_SEEN, {"pk": chat.pk, "seen": seen})

    turn.write(note_seen)
    return turn


async def _commit_turn(ctx: Context, claim: Claim, creds: ChannelCreds, turn: Turn) -> None:
    targets: dict[int, ChannelCreds | None] = {creds.id: creds}
    for out in turn.outgoing:
        if out.channel_id not in targets:
            targets[out.channel_id] = await load_creds(ctx, channel_id=out.channel_id)

    sender = local_sender(ctx)
    handed: list[tuple[Job, Admissions | None]] = []
    marks = _Marks(claim, _done_params(claim, turn.message, turn.outcome or "silent"))
    if sender is not None and turn.replies:
        # The first answer goes straight to this process's sender, claimed as it is queued:
        # no claim of its own, no wait for the sender loop to look.
        reply = turn.replies[0]
        marks.first = Claimed(claim.workspace_id, creds.id, creds.kind, turn.chat.chat_id,
                              reply.text, f"ev{claim.id}:r0", reply.keyboard,
                              turn.message.message_id if reply.quote else None, claim.id)
        marks.sender = sender

    async def write(session: AsyncSession) -> None:
        handed.clear()  # a group commit that failed runs this again, alone
        if not marks.done:
            raise LostClaim(claim.id)
        conn = await session.connection()
        for n, reply in enumerate(turn.replies):
            reply_to = turn.message.message_id if reply.quote else None
            if n == 0 and marks.job_id is not None and sender is not None:
                job = _handed_job(marks.job_id, claim, creds, turn, reply, reply_to)
                handed.append((job, sender.admit_at_end(conn, job)))
                continue
            await enqueue(session, claim.workspace_id, channel_id=creds.id, kind=creds.kind,
                          chat_id=turn.chat.chat_id, text=reply.text, keyboard=reply.keyboard,
                          reply_to=reply_to, key=f"ev{claim.id}:r{n}", source_event_id=claim.id)
        for out in turn.outgoing:
            target = targets.get(out.channel_id)
            if target is None or target.workspace_id != claim.workspace_id:
                log.warning("dropped a message to a channel outside the workspace")
                continue
            await enqueue(session, claim.workspace_id, channel_id=out.channel_id,
                          kind=target.kind, chat_id=out.chat_id, text=out.text,
                          keyboard=out.keyboard, key=f"ev{claim.id}:{out.key}",
                          purpose=out.purpose, source_event_id=claim.id)
        await _apply_flow(session, claim.workspace_id, turn)
        for effect in turn.effects:
            await effect(session)
        if len(turn.replies) + len(turn.outgoing) > len(handed):
            await notify(ctx, session, OUTBOX)

    await turn_context.writes(ctx).run(write, claim.workspace_id, ahead=(_mark_all, marks))
    for job, admissions in handed:
        assert sender is not None
        sender.hand_over(admissions.of(job) if admissions is not None else job)
    if len(turn.replies) + len(turn.outgoing) > len(handed):
        wake_senders(ctx)


def _handed_job(job_id: int, claim: Claim, creds: ChannelCreds, turn: Turn, reply: Any,
                reply_to: str | None) -> Job:
    chat = turn.chat
    state = ChatState(chat.pk, chat.chat_id, chat.chat_type, chat.role, chat.title,
                      chat.reachable, "", turn.message.occurred_at or utcnow())
    return Job(job_id, claim.workspace_id, creds.id, chat.chat_id, "text", reply.text,
               keyboard_json(reply.keyboard), reply_to, 1, 8, False, chat=state)


async def _apply_flow(session: AsyncSession, workspace_id: int, turn: Turn) -> None:
    if turn.flow_update is None and turn.flow_change is None:
        return
    row = (await session.execute(
        select(FlowState).where(FlowState.chat_pk == turn.chat.pk))).scalar()
    if turn.flow_update is None:
        if row is not None:
            await session.delete(row)
        return
    module, step, data, ttl = turn.flow_update
    expires = utcnow() + timedelta(seconds=ttl)
    if row is None:
        session.add(FlowState(workspace_id=workspace_id, chat_pk=turn.chat.pk, module=module,
                              step=step, data=data, expires_at=expires))
    else:
        row.module, row.step, row.data, row.expires_at = module, step, data, expires


# Only the claim that holds the event may finish it: same status, same attempt number. The
# message's chat, sender and text are kept with the outcome (NULL for an event never read).
_MARK = (update(InboundEvent)
         .where(InboundEvent.id == bindparam("event_id"),
                InboundEvent.status == EventStatus.PROCESSING,
                InboundEvent.attempts == bindparam("claim_attempts"))
         .values(status=bindparam("status"), processed_at=bindparam("processed_at"),
                 outcome=bindparam("outcome"), error=bindparam("error"), locked_until=None,
                 chat_id=bindparam("chat_id"), sender_id=bindparam("sender_id"),
                 text=bindparam("text"))
         .returning(InboundEvent.id))


def _done_params(claim: Claim, inbound: Inbound | None, outcome: str,
                 status: str = EventStatus.DONE, error: str = "") -> dict[str, Any]:
    """The mark's parameters, but for ``processed_at``: the moment it is written."""
    return {"event_id": claim.id, "claim_attempts": claim.attempts, "status": status,
            "outcome": outcome[:200], "error": error[:1000],
            "chat_id": inbound.chat_id if inbound else None,
            "sender_id": inbound.sender_id if inbound else None,
            "text": ((inbound.text or "")[:4000] or None) if inbound else None}


@dataclass
class _Marks:
    """An event's "done" mark, and for a turn its first answer to hand over, written for all
    the events of a shared transaction at once (``_mark_all``), which says what became of
    them."""

    claim: Claim
    params: dict[str, Any]
    first: Claimed | None = None
    sender: Sender | None = None  # the sender ``first`` goes to
    done: bool = False  # the mark was made: the claim was still ours
    job_id: int | None = None  # the first answer, queued claimed


async def _mark_all(session: AsyncSession, batch: list[_Marks]) -> None:
    # Three statements for the whole batch (the marks, and the answers' check and insert)
    # instead of three for each event, each a round trip on PostgreSQL.
    conn = await session.connection()
    now = utcnow()
    marked = set((await fast.run(conn, _MARK, [{**m.params, "processed_at": now}
                                               for m in batch])).scalars())
    for marks in batch:
        marks.done, marks.job_id = marks.claim.id in marked, None
    offered = [m for m in batch if m.done and m.first is not None]
    sender = offered[0].sender if offered else None
    lease_until = sender.lease_until(conn) if sender is not None else None
    if lease_until is None:
        return
    ids = await enqueue_claimed(conn, [m.first for m in offered if m.first], lease_until)
    for marks, job_id in zip(offered, ids, strict=True):
        marks.job_id = job_id


async def _mark_done(
    session: AsyncSession, claim: Claim, inbound: Inbound | None, outcome: str,
) -> None:
    """The mark of an event whose bookkeeping writes in a session of its own."""
    conn = await session.connection()
    result = await fast.run(conn, _MARK, {**_done_params(claim, inbound, outcome),
                                          "processed_at": utcnow()})
    if result.rowcount != 1:
        raise LostClaim(claim.id)


async def _finish(
    ctx: Context, claim: Claim, *, inbound: Inbound | None = None, outcome: str,
    status: str = EventStatus.DONE, error: str = "",
) -> None:
    marks = _Marks(claim, _done_params(claim, inbound, outcome, status, error))

    async def write(session: AsyncSession) -> None:
        if not marks.done:
            raise LostClaim(claim.id)

    await turn_context.writes(ctx).run(write, claim.workspace_id, ahead=(_mark_all, marks))


async def release_failed(ctx: Context, claim: Claim, error: str) -> None:
    """Note a crash of processing; the event is claimed again once its lease runs out."""
    async with ctx.db.session(claim.workspace_id) as session:
        await session.execute(
            update(InboundEvent)
            .where(InboundEvent.id == claim.id, InboundEvent.attempts == claim.attempts)
            .values(error=error[:1000], locked_until=utcnow() + timedelta(seconds=5))
            .execution_options(synchronize_session=False))


# --- bookkeeping kinds: no conversation, just state ---------------------------------------


async def _echo(ctx: Context, claim: Claim, creds: ChannelCreds, inbound: Inbound) -> str:
    await _finish(ctx, claim, inbound=inbound, outcome="echo (our own send)")
    return "echo"


async def _edit(ctx: Context, claim: Claim, creds: ChannelCreds, inbound: Inbound) -> str:
    # An edit never triggers a second automatic answer; it is only logged.
    await _finish(ctx, claim, inbound=inbound, outcome="edit (not answered)")
    return "edit"


async def _status(ctx: Context, claim: Claim, creds: ChannelCreds, inbound: Inbound) -> str:
    new = (inbound.status or "").lower()
    async with ctx.db.session(claim.workspace_id) as session:
        await _mark_done(session, claim, inbound, f"status {new}")
        row = (await session.execute(
            select(OutboundMessage).where(OutboundMessage.channel_id == creds.id,
                                          OutboundMessage.external_id == inbound.status_of)
        )).scalar()
        if row is not None and merge_delivery(row.delivery_status, new) != row.delivery_status:
            row.delivery_status = merge_delivery(row.delivery_status, new)
            row.delivery_updated_at = utcnow()
            if new == "failed" and inbound.extra.get("code") == 131047:
                row.error_reason = "outside_window"
    return f"status {new}"


def merge_delivery(current: str | None, new: str) -> str | None:
    """Statuses only move forward: sent < delivered < read; failed only before delivery."""
    if new == "failed":
        return "failed" if DELIVERY_RANK.get(current or "", 0) < 2 else current
    if new not in DELIVERY_RANK:
        return current
    if current == "failed" or DELIVERY_RANK[new] > DELIVERY_RANK.get(current or "", 0):
        return new
    return current


async def _migrate(ctx: Context, claim: Claim, creds: ChannelCreds, inbound: Inbound) -> str:
    async with ctx.db.session(claim.workspace_id) as session:
        await _mark_done(session, claim, inbound, "group migrated")
        if inbound.migrate_from and inbound.migrate_to:
            await chats.migrate(session, claim.workspace_id, creds.id, inbound.migrate_from,
                                inbound.migrate_to)
    return "group migrated"


async def _member(ctx: Context, claim: Claim, creds: ChannelCreds, inbound: Inbound) -> str:
    state = inbound.member_state or ""
    async with ctx.db.session(claim.workspace_id) as session:
        await _mark_done(session, claim, inbound, f"member {state}")
        if inbound.chat_id:
            await chats.set_reachable(
                session, claim.workspace_id, creds.id, inbound.chat_id, state == "active",
                reason="blocked the bot" if state == "blocked" else "removed the bot",
                chat_type=inbound.chat_type)
    return f"member {state}"


async def _state(ctx: Context, claim: Claim, creds: ChannelCreds, inbound: Inbound) -> str:
    state = inbound.account_state or ""
    await _finish(ctx, claim, inbound=inbound, outcome=f"account {state}")
    if state in CONNECTED_STATES:
        if creds.status == ChannelStatus.DISCONNECTED:
            await set_status(ctx, creds.id, ChannelStatus.ACTIVE)
            wake_senders(ctx)
    elif state:
        await set_status(ctx, creds.id, ChannelStatus.DISCONNECTED,
                         f"WhatsApp account state: {state}. Sends are held until it is "
                         "authorized again (scan the QR code in Green API).")
    return f"account {state}"


async def _ignored(ctx: Context, claim: Claim, creds: ChannelCreds, inbound: Inbound) -> str:
    reason = str(inbound.extra.get("reason") or "not handled")
    await _finish(ctx, claim, inbound=inbound, outcome=f"ignored: {reason}")
    return "ignored"


BOOKKEEPING = {
    InboundKind.ECHO: _echo,
    InboundKind.EDIT: _edit,
    InboundKind.STATUS: _status,
    InboundKind.MIGRATE: _migrate,
    InboundKind.MEMBER: _member,
    InboundKind.STATE: _state,
    InboundKind.IGNORED: _ignored,
}

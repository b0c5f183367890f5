"""The delivery log: every message the bot sent or will send (replies, provider dispatches,
broadcasts), each with one row per attempt, and the failed list with a "Retry" button.

Filters run in the database: ``status`` (``failed`` is the failed list), ``chat_id``,
``channel`` (its key), ``purpose``, ``q`` (text contains); ``before`` pages to older messages.
Retry calls ``outbox.sender.retry_failed`` and wakes this process's senders, as the JSON API does.
"""

from __future__ import annotations

from fastapi import Request
from sqlalchemy import func, select
from starlette.responses import Response

from panelpilot.channels.base import (
    BAD_REQUEST,
    BLOCKED,
    CHAT_NOT_FOUND,
    DISCONNECTED,
    MALFORMED,
    MIGRATED,
    NETWORK,
    OUTSIDE_WINDOW,
    RATE_LIMITED,
    SERVER_ERROR,
    TIMEOUT,
)
from panelpilot.console.access import not_found, open_workspace
from panelpilot.console.listing import (
    PAGE_SIZE,
    Paging,
    back_to,
    channel_refs,
    id_filter,
    text_filter,
    url_with,
)
from panelpilot.console.nav import NavItem, add_workspace_page
from panelpilot.console.routing import console_router, redirect, render
from panelpilot.inbox.models import InboundEvent
from panelpilot.outbox.enqueue import wake_senders
from panelpilot.outbox.models import OutboundAttempt, OutboundMessage, SendStatus
from panelpilot.outbox.sender import retry_failed

router = console_router()
add_workspace_page(NavItem("outbox", "Delivery log", "/outbox", section="Logs", order=65))

STATUS_LABELS = {
    SendStatus.QUEUED.value: "Queued",
    SendStatus.SENDING.value: "Sending",
    SendStatus.SENT.value: "Sent",
    SendStatus.FAILED.value: "Failed",
}
STATUS_OPTIONS = {"": "Any status", SendStatus.FAILED.value: "Failed (the failed list)",
                  SendStatus.QUEUED.value: "Queued", SendStatus.SENDING.value: "Sending",
                  SendStatus.SENT.value: "Sent"}
PURPOSE_LABELS = {"reply": "Reply to a chat", "dispatch": "Dispatch to a provider",
                  "broadcast": "Broadcast"}
# Why a message failed, in words an owner can act on (error_reason codes of the senders).
REASON_TEXT = {
    BLOCKED: "The person blocked the bot or left the chat: nothing is sent to them until they "
             "write again.",
    CHAT_NOT_FOUND: "The chat does not exist for this bot (a wrong id, or the bot is no longer "
                    "in the group).",
    OUTSIDE_WINDOW: "WhatsApp allows free text only within 24 hours of the person's last "
                    "message.",
    DISCONNECTED: "The platform refused the channel's credentials: reconnect the channel.",
    RATE_LIMITED: "The platform asked us to slow down; the senders wait and try again.",
    MIGRATED: "The group became a supergroup; the message follows it to the new id.",
    BAD_REQUEST: "The platform refused the message itself (for example its formatting).",
    SERVER_ERROR: "The platform had an error of its own.",
    TIMEOUT: "The platform did not answer in time.",
    NETWORK: "The platform could not be reached.",
    MALFORMED: "The platform answered something that could not be read.",
    "channel_removed": "The channel was removed before the message could go.",
}


@router.get("/w/{slug}/outbox")
async def delivery_log(request: Request, slug: str, status: str = "", chat_id: str = "",
                       channel: str = "", purpose: str = "", q: str = "",
                       before: str = "") -> Response:
    page = await open_workspace(request, slug)
    chat_id, channel, q = text_filter(chat_id), text_filter(channel), text_filter(q)
    purpose = text_filter(purpose)
    older_than = id_filter(before)
    errors: dict[str, str] = {}
    if status and status not in STATUS_LABELS:
        errors["status"], status = "Choose a status from the list.", ""
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        refs = await channel_refs(session)
        by_key = {ref.key: ref for ref in refs.values()}
        if channel and channel not in by_key:
            errors["channel"], channel = f"There is no channel named {channel}.", ""
        query = select(OutboundMessage).order_by(OutboundMessage.id.desc()) \
            .limit(PAGE_SIZE + 1)
        if status:
            query = query.where(OutboundMessage.status == status)
        if chat_id:
            query = query.where(OutboundMessage.chat_id == chat_id)
        if channel:
            query = query.where(OutboundMessage.channel_id == by_key[channel].id)
        if purpose:
            query = query.where(OutboundMessage.purpose == purpose)
        if q:
            query = query.where(OutboundMessage.text.icontains(q, autoescape=True))
        if older_than is not None:
            query = query.where(OutboundMessage.id < older_than)
        rows = list((await session.execute(query)).scalars())
        anything = rows or (await session.execute(select(OutboundMessage.id).limit(1))).first()
        failed = (await session.execute(
            select(func.count()).select_from(OutboundMessage)
            .where(OutboundMessage.status == SendStatus.FAILED))).scalar_one()
    filters = {"status": status, "chat_id": chat_id, "channel": channel, "purpose": purpose,
               "q": q}
    base = f"{page.base}/outbox"
    purposes = {"": "Any purpose", **PURPOSE_LABELS}
    if purpose and purpose not in purposes:
        purposes[purpose] = purpose  # a module's own purpose: keep it selectable
    return await render(
        request, "ws/outbox.html", page=page, active="outbox", title="Delivery log",
        paging=Paging.of(rows, base, filters, older_than), channels=refs,
        status_labels=STATUS_LABELS, status_options=STATUS_OPTIONS,
        purpose_options=purposes, purpose_labels=PURPOSE_LABELS,
        channel_options={"": "Any channel", **{k: k for k in by_key}}, values=filters,
        errors=errors, failed=failed, failed_url=url_with(base, {"status": "failed"}),
        filtered=any(filters.values()) or older_than is not None, anything=bool(anything),
        clear_url=base, here=url_with(base, {**filters, "before": older_than}))


@router.get("/w/{slug}/outbox/{message_id}")
async def delivery_detail(request: Request, slug: str, message_id: int) -> Response:
    page = await open_workspace(request, slug)
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        msg = (await session.execute(
            select(OutboundMessage).where(OutboundMessage.id == message_id))).scalar()
        if msg is None:
            raise not_found()
        attempts = list((await session.execute(
            select(OutboundAttempt).where(OutboundAttempt.message_id == msg.id)
            .order_by(OutboundAttempt.id))).scalars())
        refs = await channel_refs(session)
        source = None
        if msg.source_event_id is not None:
            source = (await session.execute(
                select(InboundEvent.id, InboundEvent.text)
                .where(InboundEvent.id == msg.source_event_id))).first()
    return await render(
        request, "ws/delivery.html", page=page, active="outbox", title=f"Message {msg.id}",
        msg=msg, attempts=attempts, channel=refs.get(msg.channel_id), source=source,
        status_labels=STATUS_LABELS, purpose_labels=PURPOSE_LABELS, reasons=REASON_TEXT,
        here=f"{page.base}/outbox/{msg.id}", url_with=url_with)


@router.post("/w/{slug}/outbox/{message_id}/retry")
async def retry(request: Request, slug: str, message_id: int) -> Response:
    page = await open_workspace(request, slug)
    ctx = page.console.ctx
    back = back_to(page, page.value("back"), f"{page.base}/outbox/{message_id}")
    if await retry_failed(ctx, page.ws.id, message_id):
        wake_senders(ctx)
        page.flash("success", f"Message #{message_id} is back in the queue: the senders try "
                              "it again now.")
        return redirect(back)
    async with ctx.db.read_session(page.ws.id) as session:
        status = (await session.execute(
            select(OutboundMessage.status).where(OutboundMessage.id == message_id))).scalar()
    if status is None:
        raise not_found()
    page.flash("info", f"Message #{message_id} is {STATUS_LABELS.get(status, status).lower()}"
                       ": only failed messages can be retried.")
    return redirect(back)

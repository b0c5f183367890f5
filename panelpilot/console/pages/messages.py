"""The message log: every inbound event (a customer's message, a button press, an edit, a status
update…), what the bot made of it, and the raw payload as the platform sent it.

Filters run in the database: ``since`` / ``until`` (UTC), ``chat_id``, ``channel`` (its key),
``status``, ``q`` (text contains), ``outcome`` (outcome contains); ``before`` pages to older
events. Payloads carry no credentials, and channel tokens are never read here (only a channel's
id, key and kind); a payload field whose name says it is a secret is still masked, in case a
platform ever starts sending one.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from sqlalchemy import select
from starlette.responses import Response

from panelpilot.console.access import not_found, open_workspace
from panelpilot.console.listing import (
    PAGE_SIZE,
    Paging,
    channel_refs,
    id_filter,
    text_filter,
    time_field,
    time_filter,
    url_with,
)
from panelpilot.console.nav import NavItem, add_workspace_page
from panelpilot.console.routing import console_router, render
from panelpilot.inbox.models import EventStatus, InboundEvent
from panelpilot.outbox.models import OutboundMessage

router = console_router()
add_workspace_page(NavItem("messages", "Message log", "/messages", section="Logs", order=60))

STATUS_LABELS = {
    EventStatus.NEW.value: "Waiting",
    EventStatus.PROCESSING.value: "Being processed",
    EventStatus.DONE.value: "Done",
    EventStatus.FAILED.value: "Failed",
}
SECRET_WORDS = ("token", "secret", "password", "passwd", "apikey", "api_key", "authorization")
MASK = "••••••"
# Outcomes to suggest in the filter: the most recent distinct ones.
OUTCOME_SAMPLE = 500


def redact(value: Any) -> Any:
    """The payload with the value of every secret-looking key masked."""
    if isinstance(value, dict):
        return {k: MASK if isinstance(k, str) and any(w in k.lower() for w in SECRET_WORDS)
                and v not in (None, "") else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def pretty(payload: Any) -> str:
    return json.dumps(redact(payload), indent=2, ensure_ascii=False, default=str)



@router.get("/w/{slug}/messages")
async def message_log(request: Request, slug: str, since: str = "", until: str = "",
                      chat_id: str = "", channel: str = "", status: str = "", q: str = "",
                      outcome: str = "", before: str = "") -> Response:
    page = await open_workspace(request, slug)
    chat_id, channel = text_filter(chat_id), text_filter(channel)
    q, outcome = text_filter(q), text_filter(outcome)
    older_than = id_filter(before)
    errors: dict[str, str] = {}
    start, errors["since"] = time_filter(since)
    end, errors["until"] = time_filter(until)
    if start and end and end <= start:
        errors["until"] = "Pick a moment after “From”."
        end = None
    if status and status not in STATUS_LABELS:
        errors["status"], status = "Choose a status from the list.", ""
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        refs = await channel_refs(session)
        by_key = {ref.key: ref for ref in refs.values()}
        if channel and channel not in by_key:
            errors["channel"], channel = f"There is no channel named {channel}.", ""
        query = select(InboundEvent).order_by(InboundEvent.id.desc()).limit(PAGE_SIZE + 1)
        if start:
            query = query.where(InboundEvent.received_at >= start)
        if end:
            query = query.where(InboundEvent.received_at < end)
        if chat_id:
            query = query.where(InboundEvent.chat_id == chat_id)
        if channel:
            query = query.where(InboundEvent.channel_id == by_key[channel].id)
        if status:
            query = query.where(InboundEvent.status == status)
        if q:
            query = query.where(InboundEvent.text.icontains(q, autoescape=True))
        if outcome:
            query = query.where(InboundEvent.outcome.icontains(outcome, autoescape=True))
        if older_than is not None:
            query = query.where(InboundEvent.id < older_than)
        rows = list((await session.execute(query)).scalars())
        anything = rows or (await session.execute(select(InboundEvent.id).limit(1))).first()
        recent = select(InboundEvent.outcome).order_by(InboundEvent.id.desc()) \
            .limit(OUTCOME_SAMPLE).subquery()
        outcomes = sorted({o for (o,) in (await session.execute(select(recent.c.outcome)))
                           if o})[:30]
    filters = {"since": time_field(start), "until": time_field(end), "chat_id": chat_id,
               "channel": channel, "status": status, "q": q, "outcome": outcome}
    # A moment that could not be read stays in its field, beside its error.
    values = {**filters, "since": filters["since"] or since.strip()[:40],
              "until": filters["until"] or until.strip()[:40]}
    base = f"{page.base}/messages"
    return await render(
        request, "ws/messages.html", page=page, active="messages", title="Message log",
        paging=Paging.of(rows, base, filters, older_than), channels=refs,
        status_labels=STATUS_LABELS, status_options={"": "Any status", **STATUS_LABELS},
        channel_options={"": "Any channel", **{k: k for k in by_key}}, outcomes=outcomes,
        values=values, errors={k: v for k, v in errors.items() if v},
        filtered=any(filters.values()) or older_than is not None, anything=bool(anything),
        clear_url=base, url_with=url_with)


@router.get("/w/{slug}/messages/{event_id}")
async def message_detail(request: Request, slug: str, event_id: int) -> Response:
    page = await open_workspace(request, slug)
    async with page.console.ctx.db.read_session(page.ws.id) as session:
        event = (await session.execute(
            select(InboundEvent).where(InboundEvent.id == event_id))).scalar()
        if event is None:
            raise not_found()
        refs = await channel_refs(session)
        replies = list((await session.execute(
            select(OutboundMessage).where(OutboundMessage.source_event_id == event.id)
            .order_by(OutboundMessage.id))).scalars())
    return await render(
        request, "ws/message.html", page=page, active="messages", title=f"Event {event.id}",
        event=event, channel=refs.get(event.channel_id), status_labels=STATUS_LABELS,
        payload=pretty(event.payload), replies=replies, url_with=url_with)

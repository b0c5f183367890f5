"""Rows for the chats, message-log and delivery-log pages, made directly through the models (the
pipeline that makes them in production is tested in tests/e2e)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from panelpilot.channels import service as channels
from panelpilot.chats.models import Chat
from panelpilot.context import Context
from panelpilot.db.base import utcnow
from panelpilot.inbox.models import InboundEvent
from panelpilot.outbox.models import OutboundAttempt, OutboundMessage

BOT_TOKEN = "7000001:AAsecretBotTokenNeverShown"


def telegram_update(update_id: int, chat_id: str, text: str) -> dict[str, Any]:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": 1735689600, "text": text,
        "chat": {"id": int(chat_id), "type": "private", "first_name": "Jane"},
        "from": {"id": int(chat_id), "is_bot": False, "first_name": "Jane"}}}


async def add_channel(ctx: Context, workspace_id: int, key: str = "tg",
                      token: str = BOT_TOKEN) -> int:
    async with ctx.db.session(workspace_id) as s:
        ch, _ = await channels.set_channel(s, ctx.keyring, workspace_id, key=key,
                                           kind="telegram", mode="webhook",
                                           fields={"token": token})
        return ch.id


async def add_chat(ctx: Context, workspace_id: int, channel_id: int, chat_id: str, *,
                   title: str = "", role: str = "unknown", chat_type: str = "private",
                   reachable: bool = True, reason: str = "",
                   last_inbound_at: datetime | None = None) -> int:
    async with ctx.db.session(workspace_id) as s:
        chat = Chat(workspace_id=workspace_id, channel_id=channel_id, chat_id=chat_id,
                    chat_type=chat_type, role=role, title=title, reachable=reachable,
                    unreachable_reason=reason, last_inbound_at=last_inbound_at)
        s.add(chat)
        await s.flush()
        return chat.id


async def add_event(ctx: Context, workspace_id: int, channel_id: int, *, chat_id: str,
                    text: str | None, status: str = "done", outcome: str = "",
                    error: str = "", received_at: datetime | None = None,
                    payload: dict[str, Any] | None = None, kind: str = "message",
                    key: str | None = None) -> int:
    async with ctx.db.session(workspace_id) as s:
        event = InboundEvent(
            workspace_id=workspace_id, channel_id=channel_id, kind=kind,
            event_key=key or f"{chat_id}:{text}:{received_at}:{utcnow().timestamp()}",
            chat_key=f"{channel_id}:{chat_id}",
            payload=payload if payload is not None else telegram_update(1, chat_id, text or ""),
            status=status, attempts=1, received_at=received_at or utcnow(),
            processed_at=utcnow() if status == "done" else None, chat_id=chat_id,
            sender_id=chat_id, text=text, outcome=outcome, error=error)
        s.add(event)
        await s.flush()
        return event.id


async def add_outbound(ctx: Context, workspace_id: int, channel_id: int, *, chat_id: str,
                       text: str, status: str = "sent", purpose: str = "reply",
                       reason: str = "", error: str = "", source_event_id: int | None = None,
                       attempts: tuple[tuple[bool, str, str], ...] = ()) -> int:
    """``attempts``: (ok, reason, detail) per try, oldest first."""
    async with ctx.db.session(workspace_id) as s:
        msg = OutboundMessage(
            workspace_id=workspace_id, channel_id=channel_id, chat_id=chat_id, text=text,
            purpose=purpose, status=status, attempts=len(attempts),
            idempotency_key=f"k-{chat_id}-{text}-{utcnow().timestamp()}",
            error_reason=reason, last_error=error, source_event_id=source_event_id,
            sent_at=utcnow() if status == "sent" else None)
        s.add(msg)
        await s.flush()
        for number, (ok, why, detail) in enumerate(attempts, 1):
            s.add(OutboundAttempt(workspace_id=workspace_id, message_id=msg.id, number=number,
                                  started_at=utcnow() - timedelta(seconds=10 - number),
                                  duration_ms=40 + number, ok=ok, reason=why, detail=detail))
        return msg.id

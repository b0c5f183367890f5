"""WhatsApp end to end through Green API (webhook, polling) and Meta Cloud API."""

from __future__ import annotations

import asyncio

import httpx
from sqlalchemy import select

from panelpilot.channels.models import ChannelAccount
from panelpilot.channels.service import load_creds
from panelpilot.chats.models import Chat
from panelpilot.db.base import utcnow
from panelpilot.inbox.models import InboundEvent
from panelpilot.outbox.enqueue import enqueue, wake_senders
from panelpilot.outbox.models import OutboundMessage
from tests.e2e.harness import GREEN_ID, META_PNID, META_SECRET, Stack, eventually

CUSTOMER = "79001234567@c.us"
WA_ID = "15551234567"


async def _outbox(stack: Stack) -> list[OutboundMessage]:
    async with stack.ctx.db.platform_session() as s:
        return list((await s.execute(select(OutboundMessage).order_by(OutboundMessage.id)))
                    .scalars())


async def test_greenapi_webhook_help_echo_and_statuses(stack: Stack) -> None:
    stack.green.set_status_order(GREEN_ID, ("read", "sent", "delivered"))  # out of order
    channel_id = await stack.greenapi("webhook")
    stack.green.user_says(GREEN_ID, CUSTOMER, "hi")
    stack.green.user_says(GREEN_ID, CUSTOMER, "help", extended=True)
    await eventually(lambda: stack.green.sent(GREEN_ID, CUSTOMER))

    async def read() -> bool:
        rows = await _outbox(stack)
        return bool(rows) and rows[0].delivery_status == "read"

    await eventually(read)
    await asyncio.sleep(0.3)
    assert len(stack.green.sent(GREEN_ID, CUSTOMER)) == 1  # the echo was not answered
    async with stack.ctx.db.platform_session() as s:
        outcomes = [e.outcome for e in (await s.execute(
            select(InboundEvent).where(InboundEvent.channel_id == channel_id)
            .order_by(InboundEvent.id))).scalars()]
    assert "echo (our own send)" in outcomes and "help" in outcomes and "silent" in outcomes
    assert (await _outbox(stack))[0].delivery_status == "read"  # "delivered" came later


async def test_greenapi_webhook_needs_the_token(stack: Stack) -> None:
    channel_id = await stack.greenapi("webhook")
    creds = await load_creds(stack.ctx, channel_id=channel_id, fresh=True)
    assert creds is not None
    body = {"typeWebhook": "incomingMessageReceived", "idMessage": "X1",
            "instanceData": {"idInstance": int(GREEN_ID)},
            "senderData": {"chatId": CUSTOMER, "sender": CUSTOMER},
            "messageData": {"typeMessage": "textMessage",
                            "textMessageData": {"textMessage": "help"}}}
    path = f"/hooks/greenapi/{creds.public_id}"
    for headers in ({}, {"Authorization": "Bearer nope"}):
        assert (await stack.http.post(path, json=body, headers=headers)).status_code == 401
    ok = await stack.http.post(path, json=body,
                               headers={"Authorization": f"Bearer {creds.hook_secret}"})
    assert ok.status_code == 200
    async with stack.ctx.db.platform_session() as s:
        keys = list((await s.execute(select(InboundEvent.event_key))).scalars())
    assert len([k for k in keys if k.endswith(":X1")]) == 1
    assert all(k.endswith(":X1") or "X1" not in k for k in keys)


async def test_greenapi_polling_end_to_end(stack: Stack) -> None:
    await stack.greenapi("polling")
    stack.green.user_says(GREEN_ID, CUSTOMER, "help")
    await eventually(lambda: stack.green.sent(GREEN_ID, CUSTOMER))
    await eventually(lambda: not [n for n in stack.green.pending(GREEN_ID)
                                  if n.get("typeWebhook") == "incomingMessageReceived"])


async def test_greenapi_not_authorized_holds_sends_until_authorized(stack: Stack) -> None:
    channel_id = await stack.greenapi("webhook")
    stack.green.set_state(GREEN_ID, "notAuthorized")

    async def status() -> str:
        async with stack.ctx.db.platform_session() as s:
            ch = await s.get(ChannelAccount, channel_id)
            return ch.status if ch else ""

    await eventually(lambda: _is(status, "disconnected"))
    async with stack.ctx.db.session(stack.workspace_id) as s:
        await enqueue(s, stack.workspace_id, channel_id=channel_id, kind="greenapi",
                      chat_id=CUSTOMER, text="news", key="held-1")
    wake_senders(stack.ctx)
    await asyncio.sleep(0.5)
    assert stack.green.sent(GREEN_ID, CUSTOMER) == []
    stack.green.set_state(GREEN_ID, "authorized")
    await eventually(lambda: stack.green.sent(GREEN_ID, CUSTOMER))


async def _is(get: object, value: str) -> bool:
    return await get() == value  # type: ignore[operator]


async def test_meta_verification_signature_and_reply(stack: Stack) -> None:
    channel_id = await stack.meta_number("verify-me")
    assert await stack.meta.verify_webhook(META_SECRET)
    assert not await stack.meta.verify_webhook(META_SECRET, verify_token="wrong")
    await stack.meta.user_says(META_PNID, WA_ID, "help", name="Kofi")
    await eventually(lambda: stack.meta.sent(META_PNID, WA_ID))
    creds = await load_creds(stack.ctx, channel_id=channel_id)
    assert creds is not None
    forged = b'{"object":"whatsapp_business_account","entry":[]}'
    r = await stack.http.post(f"/hooks/meta/{creds.public_id}", content=forged,
                              headers={"X-Hub-Signature-256": "sha256=" + "0" * 64,
                                       "Content-Type": "application/json"})
    assert r.status_code == 401

    async def read() -> bool:
        rows = await _outbox(stack)
        return bool(rows) and rows[0].delivery_status == "read"

    await eventually(read)


async def test_meta_outside_the_24_hour_window_nothing_is_sent(stack: Stack) -> None:
    channel_id = await stack.meta_number()
    async with stack.ctx.db.session(stack.workspace_id) as s:
        s.add(Chat(workspace_id=stack.workspace_id, channel_id=channel_id, chat_id=WA_ID,
                   chat_type="private", role="customer", title="", reachable=True,
                   unreachable_reason="",
                   last_inbound_at=utcnow().replace(year=utcnow().year - 1)))
        await s.flush()
        await enqueue(s, stack.workspace_id, channel_id=channel_id, kind="meta", chat_id=WA_ID,
                      text="late answer", key="late")
    wake_senders(stack.ctx)

    async def failed() -> OutboundMessage | None:
        rows = await _outbox(stack)
        return rows[0] if rows and rows[0].status == "failed" else None

    row = await eventually(failed)
    assert row.error_reason == "outside_window" and "24" in row.last_error
    assert stack.meta.sent(META_PNID, WA_ID) == []


async def test_unknown_channel_kinds_and_ids_get_401(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.url) as c:
        for path in ("/hooks/greenapi/nope", "/hooks/meta/nope"):
            assert (await c.post(path, json={})).status_code == 401
        assert (await c.get("/hooks/meta/nope", params={"hub.mode": "subscribe"})
                ).status_code == 403

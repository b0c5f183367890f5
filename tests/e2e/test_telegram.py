"""Telegram end to end: webhook and polling, dedupe, auth, silence, edits, migration, blocking."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from panelpilot.channels.models import ChannelAccount
from panelpilot.channels.service import load_creds
from panelpilot.chats.models import Chat
from panelpilot.inbox.models import InboundEvent
from tests.e2e.harness import TG_TOKEN, Stack, eventually

USER = 555000111


async def _events(stack: Stack) -> int:
    async with stack.ctx.db.platform_session() as s:
        return (await s.execute(select(func.count()).select_from(InboundEvent))).scalar_one()


async def _hook(stack: Stack, channel_id: int) -> tuple[str, str]:
    creds = await load_creds(stack.ctx, channel_id=channel_id, fresh=True)
    assert creds is not None and creds.hook_secret
    return f"/hooks/telegram/{creds.public_id}", creds.hook_secret


async def test_webhook_help_is_answered_and_other_text_gets_silence(stack: Stack) -> None:
    channel_id = await stack.telegram("webhook")
    info = stack.tg.webhook_info(TG_TOKEN)
    assert info["url"].endswith("/hooks/telegram/" + (await _hook(stack, channel_id))[0]
                                .rsplit("/", 1)[1])
    stack.tg.user_says(TG_TOKEN, USER, "hello there")
    stack.tg.user_says(TG_TOKEN, USER, "/help")
    sent = await eventually(lambda: stack.tg.sent(TG_TOKEN, USER))
    await asyncio.sleep(0.3)
    sent = stack.tg.sent(TG_TOKEN, USER)
    assert len(sent) == 1 and "2274209 refill" in sent[0]["text"]
    async with stack.ctx.db.platform_session() as s:
        outcomes = [e.outcome for e in (await s.execute(
            select(InboundEvent).order_by(InboundEvent.id))).scalars()]
    assert outcomes == ["silent", "help"]


async def test_duplicate_and_concurrent_duplicate_updates_are_answered_once(
    stack: Stack,
) -> None:
    channel_id = await stack.telegram("webhook")
    path, secret = await _hook(stack, channel_id)
    update = {"update_id": 9001, "message": {
        "message_id": 5, "date": 1700000000, "text": "help",
        "chat": {"id": USER, "type": "private", "first_name": "Ann"},
        "from": {"id": USER, "is_bot": False, "first_name": "Ann"}}}
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
    first = await stack.http.post(path, json=update, headers=headers)
    assert first.status_code == 200
    answers = await asyncio.gather(*(stack.http.post(path, json=update, headers=headers)
                                     for _ in range(10)))
    assert {a.status_code for a in answers} == {200}
    await eventually(lambda: stack.tg.sent(TG_TOKEN, USER))
    await asyncio.sleep(0.4)
    assert len(stack.tg.sent(TG_TOKEN, USER)) == 1
    assert await _events(stack) == 1


async def test_wrong_or_missing_secret_gets_401_and_stores_nothing(stack: Stack) -> None:
    channel_id = await stack.telegram("webhook")
    path, _ = await _hook(stack, channel_id)
    update = {"update_id": 1, "message": {"message_id": 1, "date": 1, "text": "help",
                                          "chat": {"id": 1, "type": "private"}}}
    for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "wrong"}):
        r = await stack.http.post(path, json=update, headers=headers)
        assert r.status_code == 401
    r = await stack.http.post("/hooks/telegram/not-a-channel", json=update)
    assert r.status_code == 401
    assert await _events(stack) == 0


async def test_malformed_and_unknown_updates_get_2xx(stack: Stack) -> None:
    channel_id = await stack.telegram("webhook")
    path, secret = await _hook(stack, channel_id)
    headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
    for body in (b"not json", b"[]", b'{"update_id": 7, "poll": {"id": "1"}}',
                 b'{"update_id": 8, "channel_post": {"message_id": 1, "date": 1, '
                 b'"chat": {"id": -1001, "type": "channel"}, "text": "help"}}'):
        r = await stack.http.post(path, content=body, headers=headers)
        assert r.status_code == 200, body
    await asyncio.sleep(0.3)
    assert stack.tg.sent(TG_TOKEN) == []


async def test_edit_never_triggers_a_second_answer(stack: Stack) -> None:
    await stack.telegram("webhook")
    update = stack.tg.user_says(TG_TOKEN, USER, "help")
    await eventually(lambda: stack.tg.sent(TG_TOKEN, USER))
    stack.tg.user_edits(TG_TOKEN, USER, update["message"]["message_id"], "/help")
    await asyncio.sleep(0.5)
    assert len(stack.tg.sent(TG_TOKEN, USER)) == 1


async def test_polling_mode_end_to_end(stack: Stack) -> None:
    channel_id = await stack.telegram("polling")
    assert stack.tg.webhook_info(TG_TOKEN)["url"] == ""
    stack.tg.user_says(TG_TOKEN, USER, "help")
    await eventually(lambda: stack.tg.sent(TG_TOKEN, USER))
    async with stack.ctx.db.platform_session() as s:
        ch = await s.get(ChannelAccount, channel_id)
        assert ch is not None and ch.poll_offset > 0
    # updates were confirmed: nothing waits in the simulator's queue
    await eventually(lambda: not stack.tg.pending(TG_TOKEN))


async def test_polling_with_a_webhook_set_is_a_channel_problem(stack: Stack) -> None:
    channel_id = await stack.telegram("polling")
    await stack.http.get("/healthz")
    # someone sets a webhook behind our back: getUpdates now answers 409
    from panelpilot.channels.telegram.client import TelegramClient

    client = TelegramClient(stack.ctx.settings.telegram_api_url, TG_TOKEN)
    await client.set_webhook("http://127.0.0.1:9/elsewhere")
    await client.close()

    async def problem() -> bool:
        async with stack.ctx.db.platform_session() as s:
            ch = await s.get(ChannelAccount, channel_id)
            return ch is not None and ch.status == "problem" and "webhook" in ch.status_detail

    await eventually(problem)
    calls = stack.tg.calls["getUpdates"]
    await asyncio.sleep(0.5)
    assert stack.tg.calls["getUpdates"] <= calls + 1  # not spinning


async def _chat(stack: Stack, chat_id: str) -> Chat | None:
    async with stack.ctx.db.platform_session() as s:
        return (await s.execute(select(Chat).where(Chat.chat_id == chat_id))).scalar()


async def test_group_migration_keeps_role_in_either_order(stack: Stack) -> None:
    await stack.telegram("webhook")
    for old, new, reverse in ((-100, -1001000000100, False), (-200, -1001000000200, True)):
        stack.tg.user_says(TG_TOKEN, old, "hello", chat_type="group", title="Providers")
        chat = await eventually(lambda old=old: _chat(stack, str(old)))
        async with stack.ctx.db.platform_session() as s:
            row = await s.get(Chat, chat.id)
            assert row is not None
            row.role = "provider_group"
        to_msg, from_msg = stack.tg.migrate_group(TG_TOKEN, old, new)
        if reverse:  # the supergroup's message arrives first
            stack.tg.user_says(TG_TOKEN, new, "hi", chat_type="supergroup")

        async def moved(new: int = new) -> Chat | None:
            c = await _chat(stack, str(new))
            return c if c is not None and c.role == "provider_group" else None

        migrated = await eventually(moved)
        assert await _chat(stack, str(old)) is None
        assert migrated.id == chat.id or reverse


async def test_blocked_user_is_marked_and_gets_nothing_until_they_return(stack: Stack) -> None:
    await stack.telegram("webhook")
    stack.tg.user_says(TG_TOKEN, USER, "help")
    await eventually(lambda: stack.tg.sent(TG_TOKEN, USER))
    stack.tg.user_blocks(TG_TOKEN, USER)

    async def unreachable() -> bool:
        chat = await _chat(stack, str(USER))
        return chat is not None and not chat.reachable

    await eventually(unreachable)
    stack.tg.user_unblocks(TG_TOKEN, USER)
    stack.tg.user_says(TG_TOKEN, USER, "help")
    await eventually(lambda: len(stack.tg.sent(TG_TOKEN, USER)) == 2)


async def test_a_403_on_send_marks_the_chat_unreachable_without_retries(stack: Stack) -> None:
    await stack.telegram("webhook")
    stack.tg.block(TG_TOKEN, USER)
    stack.tg.user_says(TG_TOKEN, USER, "help")

    async def unreachable() -> bool:
        chat = await _chat(stack, str(USER))
        return chat is not None and not chat.reachable

    await eventually(unreachable)
    await asyncio.sleep(0.3)
    assert stack.tg.calls["sendMessage"] == 1


async def test_the_same_update_posted_to_two_web_nodes_is_processed_once(stack: Stack) -> None:
    """Two web nodes (two apps, two database pools) receive the same update at once."""
    import httpx

    from panelpilot.context import Context
    from panelpilot.web.app import create_app

    channel_id = await stack.telegram("webhook")
    path, secret = await _hook(stack, channel_id)
    other = Context.from_settings(stack.ctx.settings)
    try:
        second = httpx.AsyncClient(transport=httpx.ASGITransport(app=create_app(other)),
                                   base_url="http://node-2")
        update = {"update_id": 4242, "message": {
            "message_id": 9, "date": 1700000000, "text": "/help",
            "chat": {"id": USER, "type": "private"}, "from": {"id": USER, "is_bot": False,
                                                           "first_name": "Bo"}}}
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret}
        answers = await asyncio.gather(*(
            client.post(path, json=update, headers=headers)
            for client in (stack.http, second) * 5))
        assert {a.status_code for a in answers} == {200}
        await second.aclose()
    finally:
        await other.close()
    await eventually(lambda: stack.tg.sent(TG_TOKEN, USER))
    await asyncio.sleep(0.4)
    assert len(stack.tg.sent(TG_TOKEN, USER)) == 1
    assert await _events(stack) == 1


async def test_a_sender_that_hangs_up_before_its_body_arrives_stores_nothing(
    stack: Stack,
) -> None:
    from panelpilot.web.app import create_app

    channel_id = await stack.telegram("webhook")
    path, secret = await _hook(stack, channel_id)
    app = create_app(stack.ctx)
    sent: list[dict[str, object]] = []

    async def receive() -> dict[str, object]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
             "root_path": "", "server": ("127.0.0.1", 80), "client": ("127.0.0.1", 5000),
             "headers": [(b"x-telegram-bot-api-secret-token", secret.encode()),
                         (b"content-type", b"application/json")]}
    await app(scope, receive, send)  # no exception, no answer to a peer that is gone
    assert sent == []
    assert await _events(stack) == 0

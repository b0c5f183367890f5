"""The aiogram-based Telegram client against the simulator: calls, raw updates, error mapping."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiogram.exceptions import TelegramAPIError, TelegramEntityTooLarge, TelegramNotFound
from aiogram.methods import SendMessage

from panelpilot.channels import base
from panelpilot.channels.base import Button, SendError
from panelpilot.channels.telegram import normalize, split_events
from panelpilot.channels.telegram.client import (
    CONFLICT,
    TelegramClient,
    TelegramClients,
    make_session,
    to_send_error,
)
from panelpilot.sim.server import LoopbackServer
from panelpilot.sim.telegram import Limits, TelegramSim

TOKEN = "1001:AAclientTOKEN"


class Env:
    def __init__(self, sim: TelegramSim, url: str, pool: TelegramClients) -> None:
        self.sim, self.url, self.pool = sim, url, pool
        self.client = pool.for_token(TOKEN)


async def _env(sim: TelegramSim, client_timeout: float = 5.0) -> AsyncIterator[Env]:
    sim.add_bot(TOKEN, username="shop_bot")
    server = LoopbackServer(sim.app)
    url = await server.start()
    pool = TelegramClients(url, timeout=client_timeout)
    try:
        yield Env(sim, url, pool)
    finally:
        sim.close()
        await pool.close()
        await server.stop()


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    async for e in _env(TelegramSim(limits=Limits.off())):
        yield e


async def _fails(call: object) -> SendError:
    assert asyncio.iscoroutine(call)
    with pytest.raises(SendError) as info:
        await call
    return info.value


# ---- calls ---------------------------------------------------------------------------------


async def test_send_text_with_keyboard_and_reply(env: Env) -> None:
    said = env.sim.user_says(TOKEN, 42, "2274209 refill")
    reply_to = str(said["message"]["message_id"])
    keyboard = [[Button("Gold", data="plan:gold"), Button("Site", url="https://example.com")]]
    message_id = await env.client.send_text("42", "Pick a plan <b>", reply_to=reply_to,
                                            keyboard=keyboard)
    [sent] = env.sim.sent(TOKEN, chat_id=42)
    assert message_id == str(sent["message_id"])
    assert sent["text"] == "Pick a plan <b>" and sent["parse_mode"] is None
    assert sent["reply_to"] == int(reply_to)
    assert sent["reply_markup"] == {"inline_keyboard": [[
        {"text": "Gold", "callback_data": "plan:gold"},
        {"text": "Site", "url": "https://example.com"}]]}


async def test_reply_to_a_vanished_message_still_sends(env: Env) -> None:
    await env.client.send_text("-100200", "hi", reply_to="99999")
    assert env.sim.sent(TOKEN)[0]["reply_to"] is None


async def test_get_updates_returns_raw_telegram_json(env: Env) -> None:
    said = env.sim.user_says(TOKEN, 42, "hi 😀 @shop_bot", first_name="Ann")
    updates = await env.client.get_updates(timeout=1)
    assert updates == [said]  # field names ("from") and unix dates exactly as Telegram sent
    [event] = split_events(updates)
    inbound = normalize(event.payload, "shop_bot")
    assert inbound.text == "hi 😀 @shop_bot" and inbound.mentioned is True
    offset = updates[-1]["update_id"] + 1
    poll = asyncio.create_task(env.client.get_updates(offset=offset, timeout=5))
    await asyncio.sleep(0.05)
    pressed = env.sim.user_presses(TOKEN, 42, 1, "go")
    assert await asyncio.wait_for(poll, 2) == [pressed]
    await env.client.answer_callback(pressed["callback_query"]["id"], "Done")
    assert env.sim.callback_answers(TOKEN)[0]["text"] == "Done"


async def test_webhook_calls(env: Env) -> None:
    hook = "http://127.0.0.1:1/hooks/telegram/7"
    await env.client.set_webhook(hook, "s3cret", ["message", "callback_query"])
    info = await env.client.get_webhook_info()
    assert info["url"] == hook and info["pending_update_count"] == 0
    assert info["allowed_updates"] == ["message", "callback_query"]
    error = await _fails(env.client.get_updates())
    assert error.reason == CONFLICT and error.permanent and error.status_code == 409
    await env.client.delete_webhook(drop_pending_updates=True)
    assert (await env.client.get_webhook_info())["url"] == ""
    assert await env.client.get_updates() == []


async def test_get_me_invite_link_and_edit(env: Env) -> None:
    me = await env.client.get_me()
    assert me["username"] == "shop_bot" and me["is_bot"] is True and me["id"] == 1001
    env.sim.add_chat(TOKEN, -1005, "channel", title="VIP")
    expires = datetime(2030, 1, 1, tzinfo=UTC)
    link = await env.client.create_invite_link("-1005", expire_date=expires)
    assert link.startswith("https://t.me/+")
    [made] = env.sim.invite_links(TOKEN)
    assert made["member_limit"] == 1 and made["expire_date"] == int(expires.timestamp())
    message_id = await env.client.send_text("42", "Plan: none")
    await env.client.edit_text("42", message_id, "Plan: gold", keyboard=[[Button("x", "y")]])
    assert env.sim.edits(TOKEN)[0]["text"] == "Plan: gold"


async def test_pool_shares_one_session_and_bounds_its_cache() -> None:
    async with TelegramClients("http://127.0.0.1:1", max_bots=2) as pool:
        a = pool.for_token("1:a")
        assert pool.for_token("1:a") is a
        pool.for_token("2:b")
        pool.for_token("1:a")  # used: now the most recent
        pool.for_token("3:c")  # evicts 2:b, the least recently used
        assert set(pool._clients) == {"1:a", "3:c"}
        assert pool.for_token("3:c").session is a.session is pool.session
        error = await _fails(_bad_token(pool))
        assert error.reason == base.DISCONNECTED and error.permanent


async def _bad_token(pool: TelegramClients) -> None:
    pool.for_token("not a token")


async def test_a_session_for_another_base_url_is_refused() -> None:
    session = make_session("http://127.0.0.1:1")
    with pytest.raises(ValueError):
        TelegramClient("http://127.0.0.1:2", TOKEN, session)
    await session.close()


# ---- error mapping -------------------------------------------------------------------------


async def test_rate_limited_carries_retry_after_and_is_not_retried_by_aiogram() -> None:
    async for env in _env(TelegramSim(limits=Limits(private_per_second=1, private_burst=1))):
        await env.client.send_text("42", "one")
        error = await _fails(env.client.send_text("42", "two"))
        assert error.reason == base.RATE_LIMITED and not error.permanent
        assert error.retry_after == 1.0 and error.status_code == 429
        assert env.sim.calls["sendMessage"] == 2  # one attempt each: no hidden retry or sleep


async def test_migrated_group_gives_the_new_id(env: Env) -> None:
    env.sim.migrate_group(TOKEN, -300, -1001234567890)
    error = await _fails(env.client.send_text("-300", "hi"))
    assert error.reason == base.MIGRATED and error.migrate_to == "-1001234567890"
    assert not error.permanent  # the same message goes through once re-addressed
    await env.client.send_text(error.migrate_to, "hi")


async def test_blocked_and_kicked_are_permanent(env: Env) -> None:
    env.sim.user_blocks(TOKEN, 42)
    env.sim.bot_kicked(TOKEN, -5)
    for chat in ("42", "-5"):
        error = await _fails(env.client.send_text(chat, "hi"))
        assert error.reason == base.BLOCKED and error.permanent and error.status_code == 403


async def test_chat_not_found_and_other_bad_requests(env: Env) -> None:
    env.sim.mark_unknown(TOKEN, -77)
    error = await _fails(env.client.send_text("-77", "hi"))
    assert error.reason == base.CHAT_NOT_FOUND and error.permanent
    too_long = await _fails(env.client.send_text("42", "x" * 4097))
    assert too_long.reason == base.BAD_REQUEST and too_long.permanent
    assert "message is too long" in too_long.detail
    bad_button = await _fails(env.client.send_text("42", "x", keyboard=[[Button("b", "d" * 65)]]))
    assert bad_button.reason == base.BAD_REQUEST
    stale = await _fails(env.client.answer_callback("123"))
    assert stale.reason == base.BAD_REQUEST


async def test_unknown_token_is_disconnected(env: Env) -> None:
    error = await _fails(env.pool.for_token("999:unknown").send_text("42", "hi"))
    assert error.reason == base.DISCONNECTED and error.permanent and error.status_code == 401


async def test_server_errors_are_temporary(env: Env) -> None:
    env.sim.fail_next(TOKEN, status=500)
    env.sim.fail_next(TOKEN, status=502)
    first = await _fails(env.client.send_text("42", "hi"))
    assert first.reason == base.SERVER_ERROR and not first.permanent and first.status_code == 500
    # 502 comes as the proxy's HTML page, still a server error and not "malformed".
    second = await _fails(env.client.send_text("42", "hi"))
    assert second.reason == base.SERVER_ERROR and second.status_code == 502
    assert env.sim.calls["sendMessage"] == 2
    await env.client.send_text("42", "hi")


async def test_undecodable_answer_is_malformed(env: Env) -> None:
    env.sim.fail_next(TOKEN, status=200, body="<html>Just a moment...</html>")
    error = await _fails(env.client.send_text("42", "hi"))
    assert error.reason == base.MALFORMED and not error.permanent


async def test_timeout() -> None:
    async for env in _env(TelegramSim(limits=Limits.off()), client_timeout=0.1):
        env.sim.delay(TOKEN, 0.3)
        error = await _fails(env.client.send_text("42", "hi"))
        assert error.reason == base.TIMEOUT and not error.permanent


async def test_connection_refused_is_network() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with TelegramClients(f"http://127.0.0.1:{port}") as pool:
        error = await _fails(pool.for_token(TOKEN).send_text("42", "hi"))
    assert error.reason == base.NETWORK and not error.permanent


def test_mapping_of_errors_the_simulator_does_not_produce() -> None:
    method = SendMessage(chat_id=1, text="x")
    not_found = to_send_error(TelegramNotFound(method=method, message="Not Found"))
    assert not_found.reason == base.BAD_REQUEST and not_found.permanent
    too_large = to_send_error(TelegramEntityTooLarge(method=method, message="too large"))
    assert too_large.reason == base.BAD_REQUEST and too_large.permanent
    odd = to_send_error(TelegramAPIError(method=method, message="Enhance your calm"))
    assert odd.reason == base.SERVER_ERROR and not odd.permanent
    assert to_send_error(TimeoutError()).reason == base.TIMEOUT
    assert to_send_error(ConnectionResetError()).reason == base.NETWORK

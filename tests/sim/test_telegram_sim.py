"""The Telegram Bot API simulator, spoken to over real loopback sockets like Telegram itself."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiogram.types import Message, Update
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from panelpilot.sim.server import LoopbackServer
from panelpilot.sim.telegram import (
    CONFLICT_OTHER_POLL,
    CONFLICT_WEBHOOK,
    Limits,
    TelegramSim,
)

TOKEN = "1001:AAsimTOKEN"
OTHER = "1002:BBsimTOKEN"


class Harness:
    def __init__(self, sim: TelegramSim, url: str, http: httpx.AsyncClient) -> None:
        self.sim, self.url, self.http = sim, url, http

    async def call(self, method: str, token: str = TOKEN, **params: Any) -> httpx.Response:
        return await self.http.post(f"{self.url}/bot{token}/{method}", json=params)

    async def ok(self, method: str, token: str = TOKEN, **params: Any) -> Any:
        resp = await self.call(method, token, **params)
        body = resp.json()
        assert resp.status_code == 200 and body["ok"] is True, body
        return body["result"]

    async def error(self, method: str, token: str = TOKEN, **params: Any) -> dict[str, Any]:
        resp = await self.call(method, token, **params)
        body: dict[str, Any] = resp.json()
        assert body["ok"] is False and resp.status_code == body["error_code"], body
        return body


async def _serve(sim: TelegramSim) -> AsyncIterator[Harness]:
    sim.add_bot(TOKEN, username="shop_bot")
    sim.add_bot(OTHER, username="other_bot")
    server = LoopbackServer(sim.app)
    url = await server.start()
    async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
        yield Harness(sim, url, http)
    sim.close()
    await server.stop()


@pytest.fixture
async def tg() -> AsyncIterator[Harness]:
    async for harness in _serve(TelegramSim(limits=Limits.off(), webhook_retry_delays=(0.05,))):
        yield harness


@pytest.fixture
async def limited() -> AsyncIterator[Harness]:
    limits = Limits(bot_per_second=1, bot_burst=4, private_per_second=1, private_burst=2,
                    group_per_minute=60, group_burst=1)
    async for harness in _serve(TelegramSim(limits=limits)):
        yield harness


class Receiver:
    """A tiny webhook endpoint on loopback that records posts and can fail the first ones."""

    def __init__(self, fail_first: int = 0, status: int = 500) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.fail_first = fail_first
        self.status = status
        self.got = asyncio.Event()
        self.app = Starlette(routes=[Route("/hook", self.hook, methods=["POST"])])

    async def hook(self, request: Request) -> Response:
        body = await request.json()
        self.headers.append(dict(request.headers))
        if self.fail_first > 0:
            self.fail_first -= 1
            return Response("boom", status_code=self.status)
        self.bodies.append(body)
        self.got.set()
        return JSONResponse({})


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ---- the envelope -------------------------------------------------------------------------------


async def test_get_me_accepts_get_json_form_and_multipart(tg: Harness) -> None:
    url = f"{tg.url}/bot{TOKEN}/getMe"
    answers = [
        await tg.http.get(url),
        await tg.http.post(url, json={}),
        await tg.http.post(url, data={"x": "1"}),
        await tg.http.post(url, files={"x": ("x", b"1")}),
        await tg.http.get(f"{tg.url}/bot{TOKEN}/GETME"),  # method names are case-insensitive
    ]
    for resp in answers:
        assert resp.status_code == 200
        body = resp.json()
        assert body["ok"] is True
        assert body["result"]["username"] == "shop_bot"
        assert body["result"]["id"] == 1001 and body["result"]["is_bot"] is True


async def test_unknown_token_is_401_and_unknown_method_404(tg: Harness) -> None:
    assert await tg.error("getMe", token="999:nope") == {
        "ok": False, "error_code": 401, "description": "Unauthorized"}
    assert await tg.error("sendCarrierPigeon") == {
        "ok": False, "error_code": 404, "description": "Not Found"}


async def test_send_message_returns_a_full_message_and_is_recorded(tg: Harness) -> None:
    said = tg.sim.user_says(TOKEN, 42, "hello", first_name="Ann")
    markup = {"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]}
    # Sent as multipart form like aiogram: objects arrive as JSON strings inside the fields.
    resp = await tg.http.post(f"{tg.url}/bot{TOKEN}/sendMessage", files={
        "chat_id": (None, "42"), "text": (None, "Hi Ann"),
        "reply_markup": (None, json.dumps(markup)),
        "reply_parameters": (None, json.dumps({"message_id": said["message"]["message_id"]})),
    })
    body = resp.json()
    assert body["ok"] is True
    message = body["result"]
    Message.model_validate(message)  # the shape aiogram (and Telegram clients) expect
    assert message["from"]["username"] == "shop_bot"
    assert message["chat"] == {"id": 42, "first_name": "Ann", "type": "private"}
    assert message["text"] == "Hi Ann"
    assert message["reply_to_message"]["text"] == "hello"
    assert message["message_id"] > said["message"]["message_id"]
    [sent] = tg.sim.sent(TOKEN, chat_id=42)
    assert sent["text"] == "Hi Ann" and sent["reply_markup"] == markup
    assert sent["reply_to"] == said["message"]["message_id"]
    assert tg.sim.sent(TOKEN, chat_id=43) == []
    assert tg.sim.calls["sendMessage"] == 1


async def test_send_message_validates_like_telegram(tg: Harness) -> None:
    empty = await tg.error("sendMessage", chat_id=42, text="")
    assert empty["description"] == "Bad Request: message text is empty"
    long = await tg.error("sendMessage", chat_id=42, text="😀" * 2049)  # 4098 UTF-16 units
    assert long["description"] == "Bad Request: message is too long"
    bad_button = await tg.error("sendMessage", chat_id=42, text="x", reply_markup={
        "inline_keyboard": [[{"text": "x", "callback_data": "d" * 65}]]})
    assert bad_button["description"] == "Bad Request: BUTTON_DATA_INVALID"
    no_target = await tg.error("sendMessage", chat_id=42, text="x",
                               reply_parameters={"message_id": 999})
    assert no_target["description"] == "Bad Request: message to be replied not found"
    await tg.ok("sendMessage", chat_id=42, text="x",
                reply_parameters={"message_id": 999, "allow_sending_without_reply": True})
    missing = await tg.error("sendMessage", text="x")
    assert missing["description"] == "Bad Request: chat_id is empty"


# ---- flood limits -------------------------------------------------------------------------------


async def test_private_chat_limit_answers_429_with_retry_after(limited: Harness) -> None:
    await limited.ok("sendMessage", chat_id=7, text="1")
    await limited.ok("sendMessage", chat_id=7, text="2")
    body = await limited.error("sendMessage", chat_id=7, text="3")
    assert body == {"ok": False, "error_code": 429,
                    "description": "Too Many Requests: retry after 1",
                    "parameters": {"retry_after": 1}}
    assert limited.sim.rate_limited == 1
    assert [m["text"] for m in limited.sim.sent(TOKEN)] == ["1", "2"]
    await limited.ok("sendMessage", token=OTHER, chat_id=7, text="other bot has its own limits")


async def test_bot_wide_limit_spans_chats(limited: Harness) -> None:
    for chat_id in (1, 2, 3, 4):
        await limited.ok("sendMessage", chat_id=chat_id, text="hi")
    body = await limited.error("sendMessage", chat_id=5, text="hi")
    assert body["error_code"] == 429 and body["parameters"]["retry_after"] >= 1


async def test_group_limit_is_per_minute(limited: Harness) -> None:
    await limited.ok("sendMessage", chat_id=-500, text="1")
    body = await limited.error("sendMessage", chat_id=-500, text="2")
    assert body["parameters"]["retry_after"] == 1  # 60 a minute: one a second


# ---- faults -------------------------------------------------------------------------------------


async def test_blocked_chat_is_403(tg: Harness) -> None:
    tg.sim.block(TOKEN, 42)
    body = await tg.error("sendMessage", chat_id=42, text="x")
    assert body["description"] == "Forbidden: bot was blocked by the user"
    tg.sim.unblock(TOKEN, 42)
    await tg.ok("sendMessage", chat_id=42, text="x")


async def test_unknown_chat_is_400_chat_not_found(tg: Harness) -> None:
    tg.sim.mark_unknown(TOKEN, -77)
    body = await tg.error("sendMessage", chat_id=-77, text="x")
    assert body["description"] == "Bad Request: chat not found"
    by_name = await tg.error("sendMessage", chat_id="@nobody_here", text="x")
    assert by_name["description"] == "Bad Request: chat not found"


async def test_strict_sim_knows_only_chats_that_spoke() -> None:
    async for tg in _serve(TelegramSim(limits=Limits.off(), strict_chats=True)):
        assert (await tg.error("sendMessage", chat_id=5, text="x"))["error_code"] == 400
        tg.sim.user_says(TOKEN, 5, "hi")
        await tg.ok("sendMessage", chat_id=5, text="x")


async def test_migrated_group_answers_migrate_to_and_emits_both_service_messages(
    tg: Harness,
) -> None:
    tg.sim.user_says(TOKEN, -300, "hi", chat_type="group", title="Providers", user_id=9)
    first, second = tg.sim.migrate_group(TOKEN, -300, -1001234567890)
    body = await tg.error("sendMessage", chat_id=-300, text="x")
    assert body == {"ok": False, "error_code": 400,
                    "description": "Bad Request: group chat was upgraded to a supergroup chat",
                    "parameters": {"migrate_to_chat_id": -1001234567890}}
    updates = await tg.ok("getUpdates")
    assert updates[-2:] == [first, second]
    assert first["message"]["chat"] == {"id": -300, "title": "Providers", "type": "group"}
    assert first["message"]["migrate_to_chat_id"] == -1001234567890
    assert second["message"]["chat"]["type"] == "supergroup"
    assert second["message"]["chat"]["id"] == -1001234567890
    assert second["message"]["migrate_from_chat_id"] == -300
    for update in updates:
        Update.model_validate(update)
    await tg.ok("sendMessage", chat_id=-1001234567890, text="new home")


async def test_fail_next_gives_json_500_and_html_502(tg: Harness) -> None:
    tg.sim.fail_next(TOKEN, status=500)
    tg.sim.fail_next(TOKEN, status=502)
    assert (await tg.error("sendMessage", chat_id=1, text="x"))["description"] == \
        "Internal Server Error"
    resp = await tg.call("sendMessage", chat_id=1, text="x")
    assert resp.status_code == 502 and "<html>" in resp.text
    await tg.ok("sendMessage", chat_id=1, text="x")
    assert len(tg.sim.sent(TOKEN)) == 1


async def test_fail_next_can_target_one_method_and_count(tg: Harness) -> None:
    tg.sim.fail_next(TOKEN, status=500, count=2, method="getUpdates")
    await tg.ok("sendMessage", chat_id=1, text="sends are untouched")
    assert (await tg.error("getUpdates"))["error_code"] == 500
    assert (await tg.error("getUpdates"))["error_code"] == 500
    assert await tg.ok("getUpdates") == []


async def test_delay_makes_answers_slow(tg: Harness) -> None:
    tg.sim.delay(TOKEN, 0.2)
    with pytest.raises(httpx.ReadTimeout):
        await tg.http.post(f"{tg.url}/bot{TOKEN}/getMe", timeout=0.05)
    tg.sim.delay(TOKEN, 0)
    await tg.ok("getMe")


# ---- getUpdates ---------------------------------------------------------------------------------


async def test_long_poll_returns_as_soon_as_an_update_arrives(tg: Harness) -> None:
    poll = asyncio.create_task(tg.ok("getUpdates", timeout=5))
    await asyncio.sleep(0.05)
    assert not poll.done()
    started = time.monotonic()
    said = tg.sim.user_says(TOKEN, 42, "order 123")
    updates = await asyncio.wait_for(poll, 2)
    assert time.monotonic() - started < 1
    assert updates == [said]
    Update.model_validate(said)


async def test_long_poll_times_out_empty(tg: Harness) -> None:
    started = time.monotonic()
    assert await tg.ok("getUpdates", timeout=0.2) == []
    assert time.monotonic() - started >= 0.15


async def test_offset_confirms_and_drops_earlier_updates(tg: Harness) -> None:
    ids = [tg.sim.user_says(TOKEN, 42, f"m{i}")["update_id"] for i in range(4)]
    assert ids == sorted(ids) and len(set(ids)) == 4
    assert [u["update_id"] for u in await tg.ok("getUpdates", limit=2)] == ids[:2]
    # Not confirmed yet: asking again gives the same ones.
    assert [u["update_id"] for u in await tg.ok("getUpdates", limit=2)] == ids[:2]
    assert [u["update_id"] for u in await tg.ok("getUpdates", offset=ids[2])] == ids[2:]
    assert [u["update_id"] for u in await tg.ok("getUpdates", offset=-1)] == ids[3:]
    assert await tg.ok("getUpdates", offset=ids[3] + 1) == []
    assert tg.sim.pending(TOKEN) == []


async def test_update_ids_are_per_bot(tg: Harness) -> None:
    a = tg.sim.user_says(TOKEN, 1, "a")["update_id"]
    b = tg.sim.user_says(OTHER, 1, "b")["update_id"]
    assert a == b
    assert [u["message"]["text"] for u in await tg.ok("getUpdates", token=OTHER)] == ["b"]


async def test_get_updates_while_webhook_is_set_is_409(tg: Harness) -> None:
    await tg.ok("setWebhook", url="http://127.0.0.1:9/hook")
    assert await tg.error("getUpdates") == {
        "ok": False, "error_code": 409, "description": CONFLICT_WEBHOOK}
    await tg.ok("deleteWebhook")
    assert await tg.ok("getUpdates") == []


async def test_second_poller_ends_the_first_with_409(tg: Harness) -> None:
    first = asyncio.create_task(tg.call("getUpdates", timeout=5))
    await asyncio.sleep(0.05)
    second = asyncio.create_task(tg.ok("getUpdates", timeout=5))
    resp = await asyncio.wait_for(first, 2)
    assert resp.status_code == 409 and resp.json()["description"] == CONFLICT_OTHER_POLL
    tg.sim.user_says(TOKEN, 1, "hi")
    assert len(await asyncio.wait_for(second, 2)) == 1


async def test_allowed_updates_filters_what_is_queued(tg: Harness) -> None:
    await tg.ok("getUpdates", allowed_updates=["callback_query"])
    tg.sim.user_says(TOKEN, 1, "ignored")
    pressed = tg.sim.user_presses(TOKEN, 1, 1, "go")
    assert await tg.ok("getUpdates") == [pressed]


# ---- inbound variety ----------------------------------------------------------------------------


async def test_inbound_updates_are_realistic(tg: Harness) -> None:
    sim = tg.sim
    said = sim.user_says(TOKEN, -400, "/status@shop_bot 😀 @shop_bot", chat_type="supergroup",
                         user_id=5, first_name="Bo", last_name="Li", username="boli",
                         title="Team")
    msg = said["message"]
    assert msg["chat"] == {"id": -400, "title": "Team", "type": "supergroup"}
    assert msg["from"]["username"] == "boli" and msg["from"]["last_name"] == "Li"
    # Offsets count UTF-16 units: the emoji is two of them.
    assert msg["entities"] == [{"offset": 0, "length": 16, "type": "bot_command"},
                               {"offset": 20, "length": 9, "type": "mention"}]
    sent = await tg.ok("sendMessage", chat_id=-400, text="Pick one", reply_markup={
        "inline_keyboard": [[{"text": "A", "callback_data": "a"}]]})
    edited = sim.user_edits(TOKEN, -400, msg["message_id"], "/status 2", user_id=5)
    pressed = sim.user_presses(TOKEN, -400, sent["message_id"], "a", user_id=5)
    post = sim.channel_post(TOKEN, -1009, "news", title="VIP")
    blocked = sim.user_blocks(TOKEN, 77)
    unblocked = sim.user_unblocks(TOKEN, 77)
    kicked = sim.bot_kicked(TOKEN, -400)
    raw = sim.deliver(TOKEN, {"update_id": 5, "poll": {"id": "1"}})
    updates = await tg.ok("getUpdates")
    assert updates == [said, edited, pressed, post, blocked, unblocked, kicked, raw]
    for update in updates[:-1]:
        Update.model_validate(update)
    assert edited["edited_message"]["text"] == "/status 2" and "edit_date" in edited[
        "edited_message"]
    assert pressed["callback_query"]["message"]["text"] == "Pick one"
    assert pressed["callback_query"]["data"] == "a"
    assert post["channel_post"]["sender_chat"]["type"] == "channel"
    assert blocked["my_chat_member"]["new_chat_member"]["status"] == "kicked"
    assert blocked["my_chat_member"]["new_chat_member"]["user"]["id"] == 1001
    assert unblocked["my_chat_member"]["new_chat_member"]["status"] == "member"
    assert kicked["my_chat_member"]["chat"]["id"] == -400
    assert raw["update_id"] == 5  # a raw update keeps its id, so tests can replay duplicates


async def test_user_block_produces_update_and_then_403(tg: Harness) -> None:
    tg.sim.user_says(TOKEN, 77, "hi")
    tg.sim.user_blocks(TOKEN, 77)
    assert (await tg.error("sendMessage", chat_id=77, text="x"))["error_code"] == 403
    tg.sim.user_unblocks(TOKEN, 77)
    await tg.ok("sendMessage", chat_id=77, text="welcome back")
    kicked = tg.sim.bot_kicked(TOKEN, -5)
    assert kicked["my_chat_member"]["new_chat_member"]["status"] == "kicked"
    body = await tg.error("sendMessage", chat_id=-5, text="x")
    assert body["description"] == "Forbidden: bot was kicked from the group chat"


async def test_answer_callback_and_edit_message(tg: Harness) -> None:
    sent = await tg.ok("sendMessage", chat_id=3, text="Plan?")
    pressed = tg.sim.user_presses(TOKEN, 3, sent["message_id"], "plan:1")
    query_id = pressed["callback_query"]["id"]
    assert await tg.ok("answerCallbackQuery", callback_query_id=query_id, text="Saved") is True
    assert tg.sim.callback_answers(TOKEN)[0]["text"] == "Saved"
    again = await tg.error("answerCallbackQuery", callback_query_id=query_id)
    assert "query ID is invalid" in again["description"]

    edited = await tg.ok("editMessageText", chat_id=3, message_id=sent["message_id"],
                         text="Plan: 1")
    assert edited["text"] == "Plan: 1" and "edit_date" in edited
    same = await tg.error("editMessageText", chat_id=3, message_id=sent["message_id"],
                          text="Plan: 1")
    assert same["description"].startswith("Bad Request: message is not modified")
    gone = await tg.error("editMessageText", chat_id=3, message_id=999, text="x")
    assert gone["description"] == "Bad Request: message to edit not found"
    said = tg.sim.user_says(TOKEN, 3, "mine")
    theirs = await tg.error("editMessageText", chat_id=3,
                            message_id=said["message"]["message_id"], text="x")
    assert theirs["description"] == "Bad Request: message can't be edited"


async def test_create_chat_invite_link(tg: Harness) -> None:
    tg.sim.add_chat(TOKEN, -1005, "channel", title="VIP")
    link = await tg.ok("createChatInviteLink", chat_id=-1005, member_limit=1)
    assert link["invite_link"].startswith("https://t.me/+")
    assert link["member_limit"] == 1 and link["creator"]["id"] == 1001
    assert tg.sim.invite_links(TOKEN)[0]["chat_id"] == -1005


# ---- webhooks -----------------------------------------------------------------------------------


async def test_webhook_delivers_with_secret_header(tg: Harness) -> None:
    receiver = Receiver()
    async with LoopbackServer(receiver.app) as hook:
        assert (await tg.call("setWebhook", url=f"{hook.url}/hook", secret_token="s3cr3t",
                              allowed_updates=["message"])).json() == {
            "ok": True, "result": True, "description": "Webhook was set"}
        said = tg.sim.user_says(TOKEN, 42, "via webhook")
        await asyncio.wait_for(receiver.got.wait(), 2)
        assert receiver.bodies == [said]
        assert receiver.headers[0]["x-telegram-bot-api-secret-token"] == "s3cr3t"
        assert receiver.headers[0]["content-type"] == "application/json"
        assert await tg.sim.wait_webhook_idle(TOKEN)
        info = await tg.ok("getWebhookInfo")
        assert info["url"] == f"{hook.url}/hook"
        assert info["pending_update_count"] == 0 and info["allowed_updates"] == ["message"]
        assert "last_error_date" not in info
        await tg.ok("deleteWebhook")
        tg.sim.close()


async def test_webhook_retries_a_failing_endpoint_and_records_the_error(tg: Harness) -> None:
    receiver = Receiver(fail_first=1, status=500)
    async with LoopbackServer(receiver.app) as hook:
        await tg.ok("setWebhook", url=f"{hook.url}/hook")
        said = tg.sim.user_says(TOKEN, 42, "retry me")
        later = tg.sim.user_says(TOKEN, 42, "queued behind")
        assert await tg.sim.wait_webhook_idle(TOKEN)
        # Delivered once accepted, in order; the failed attempt left its trace.
        assert receiver.bodies == [said, later]
        info = await tg.ok("getWebhookInfo")
        assert info["last_error_message"] == \
            "Wrong response from the webhook: 500 Internal Server Error"
        assert abs(info["last_error_date"] - time.time()) < 5
        log = tg.sim.webhook_log(TOKEN)
        assert [entry["error"] is None for entry in log] == [False, True, True]
        tg.sim.close()


async def test_webhook_gives_up_after_the_last_retry(tg: Harness) -> None:
    receiver = Receiver(fail_first=2, status=502)
    async with LoopbackServer(receiver.app) as hook:
        await tg.ok("setWebhook", url=f"{hook.url}/hook")
        tg.sim.user_says(TOKEN, 42, "lost")  # fails, retried once, fails again: dropped
        assert await tg.sim.wait_webhook_idle(TOKEN)
        kept = tg.sim.user_says(TOKEN, 42, "next one")
        await asyncio.wait_for(receiver.got.wait(), 2)
        assert receiver.bodies == [kept]
        tg.sim.close()


async def test_webhook_to_nowhere_keeps_updates_pending() -> None:
    async for tg in _serve(TelegramSim(webhook_retry_delays=(5.0,))):
        await tg.ok("setWebhook", url=f"http://127.0.0.1:{_closed_port()}/hook",
                    drop_pending_updates=True)
        tg.sim.user_says(TOKEN, 1, "x")
        for _ in range(100):
            info = await tg.ok("getWebhookInfo")
            if "last_error_message" in info:
                break
            await asyncio.sleep(0.01)
        assert info["last_error_message"] == "Connection refused"
        assert info["pending_update_count"] == 1  # waiting for its retry
        bad = await tg.error("setWebhook", url="ftp://example")
        assert bad["description"].startswith("Bad Request: bad webhook")


# ---- control API and threads --------------------------------------------------------------------


async def test_control_api_drives_the_same_operations(tg: Harness) -> None:
    http, base = tg.http, tg.url
    added = await http.post(f"{base}/_sim/bots", json={"bots": [
        {"token": "2001:ctl", "username": "ctl_bot"}, {"token": "2002:ctl"}]})
    assert added.json()["ok"] is True
    said = (await http.post(f"{base}/_sim/say", json={
        "token": "2001:ctl", "chat_id": 9, "text": "hi"})).json()["result"]
    assert said["message"]["text"] == "hi"
    await tg.ok("sendMessage", token="2001:ctl", chat_id=9, text="hello")
    sent = (await http.get(f"{base}/_sim/sent", params={"token": "2001:ctl",
                                                         "chat_id": "9"})).json()
    assert [m["text"] for m in sent["result"]] == ["hello"]
    await http.post(f"{base}/_sim/block", json={"token": "2001:ctl", "chat_id": 9})
    assert (await tg.error("sendMessage", token="2001:ctl", chat_id=9, text="x"))[
        "error_code"] == 403
    stats = (await http.get(f"{base}/_sim/stats")).json()["result"]
    assert stats["bots"] == 4 and stats["calls"]["sendMessage"] == 2
    wrong = await http.post(f"{base}/_sim/say", json={"token": "2001:ctl", "bogus": 1})
    assert wrong.status_code == 400 and wrong.json()["ok"] is False
    assert (await http.post(f"{base}/_sim/nope", json={})).status_code == 404


async def test_sim_served_from_a_thread_is_driven_from_this_one() -> None:
    sim = TelegramSim(limits=Limits.off())
    sim.add_bot(TOKEN)
    server = LoopbackServer(sim.app)
    url = server.start_in_thread()
    try:
        async with httpx.AsyncClient(timeout=5, trust_env=False) as http:
            poll = asyncio.create_task(
                http.post(f"{url}/bot{TOKEN}/getUpdates", json={"timeout": 5}))
            await asyncio.sleep(0.05)
            said = sim.user_says(TOKEN, 1, "across threads")  # hops onto the sim's loop
            assert (await asyncio.wait_for(poll, 2)).json()["result"] == [said]
    finally:
        sim.close()
        server.stop_thread()

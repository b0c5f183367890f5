"""GreenApiClient against the simulator over real sockets: sends, polling, and every failure."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from panelpilot.channels.base import (
    BAD_REQUEST,
    DISCONNECTED,
    MALFORMED,
    NETWORK,
    RATE_LIMITED,
    SERVER_ERROR,
    TIMEOUT,
    Button,
    InboundKind,
    SendError,
)
from panelpilot.channels.greenapi import (
    QUOTA_EXCEEDED,
    TEXT_LIMIT,
    GreenApiClient,
    normalize,
    render_text,
    split_events,
)
from panelpilot.sim.greenapi import GreenApiSim
from panelpilot.sim.server import LoopbackServer

ID = "1101000001"
TOKEN = "d75b3a66374942c5b3c019c698abc2067e151558acbd412345"
CUSTOMER = "79876543210@c.us"


@dataclass
class Env:
    sim: GreenApiSim
    url: str
    http: httpx.AsyncClient
    wa: GreenApiClient


def serve(app: Any) -> LoopbackServer:
    server = LoopbackServer(app)
    return server


@pytest.fixture
async def env() -> AsyncIterator[Env]:
    sim = GreenApiSim(
        receive_timeout_scale=0.01,
        rate_limits={"getSettings": None, "setSettings": None, "getStateInstance": None},
    )
    sim.add_instance(ID, TOKEN)
    async with serve(sim.app) as server, httpx.AsyncClient() as http:
        yield Env(sim, server.url, http, GreenApiClient(server.url, ID, TOKEN, http, timeout=5))


async def send_error(env: Env, text: str = "hello") -> SendError:
    with pytest.raises(SendError) as caught:
        await env.wa.send_text(CUSTOMER, text)
    error = caught.value
    assert TOKEN not in str(error)
    assert TOKEN not in error.detail
    return error


# ------------------------------------------------------------------------------ sending


async def test_send_text_returns_the_message_id(env: Env) -> None:
    id_message = await env.wa.send_text(CUSTOMER, "EXT-99812 refill")
    [sent] = env.sim.sent(ID)
    assert sent.id_message == id_message
    assert sent.chat_id == CUSTOMER
    assert sent.message == "EXT-99812 refill"
    assert sent.quoted_message_id is None


async def test_reply_quotes_the_message(env: Env) -> None:
    incoming = env.sim.user_says(ID, CUSTOMER, "2274209 refill")
    await env.wa.send_text(CUSTOMER, "Refill requested", reply_to=incoming)
    assert env.sim.sent(ID)[0].quoted_message_id == incoming


async def test_keyboard_becomes_numbered_lines(env: Env) -> None:
    keyboard = [
        [Button("Refill", data="refill"), Button("Speed up", data="speed")],
        [Button("Open panel", url="https://panel.example")],
    ]
    await env.wa.send_text(CUSTOMER, "What do you need?", keyboard=keyboard)
    assert env.sim.sent(ID)[0].message == (
        "What do you need?\n\n1. Refill\n2. Speed up\n3. Open panel: https://panel.example"
    )


def test_render_text_without_buttons() -> None:
    assert render_text("plain", None) == "plain"
    assert render_text("plain", [[]]) == "plain"
    assert render_text("", [[Button("Only")]]) == "1. Only"


async def test_text_over_the_limit_is_refused_before_sending(env: Env) -> None:
    await env.wa.send_text(CUSTOMER, "x" * TEXT_LIMIT)
    error = await send_error(env, "x" * (TEXT_LIMIT + 1))
    assert error.reason == BAD_REQUEST
    assert error.permanent
    assert env.sim.calls(ID, "sendMessage") == 1


async def test_sent_messages_come_back_as_echo_and_statuses(env: Env) -> None:
    id_message = await env.wa.send_text(CUSTOMER, "Order 2274209 is in progress")
    kinds = []
    while (item := await env.wa.receive_notification(5)) is not None:
        inbound = normalize(item)
        kinds.append((inbound.kind, inbound.status))
        assert inbound.message_id == id_message or inbound.status_of == id_message
        assert await env.wa.delete_notification(item["receiptId"]) is True
    assert kinds == [
        (InboundKind.ECHO, None),
        (InboundKind.STATUS, "sent"),
        (InboundKind.STATUS, "delivered"),
        (InboundKind.STATUS, "read"),
    ]


# ------------------------------------------------------------------------------ receiving


async def test_poll_loop_reads_what_people_write(env: Env) -> None:
    env.sim.user_says(ID, "79876543210", "2274209 refill", sender_name="Ivan")
    env.sim.user_says(ID, "120363043968066561", "EXT-1 done", group=True, sender="7900@c.us")
    seen = []
    while (item := await env.wa.receive_notification(5)) is not None:
        [event] = split_events(item, ID)
        inbound = normalize(event.payload)
        seen.append((event.key.split(":")[1], inbound.chat_type, inbound.text, inbound.sender_name))
        await env.wa.delete_notification(item["receiptId"])
    assert seen == [
        (CUSTOMER, "private", "2274209 refill", "Ivan"),
        ("120363043968066561@g.us", "group", "EXT-1 done", "Customer"),
    ]


async def test_empty_poll_is_none(env: Env) -> None:
    assert await env.wa.receive_notification(5) is None


async def test_deleting_an_unknown_receipt(env: Env) -> None:
    assert await env.wa.delete_notification(424242) is False


async def test_settings_and_state(env: Env) -> None:
    assert await env.wa.set_settings("http://127.0.0.1:9/hooks/greenapi/7", "hook-token") is True
    settings = await env.wa.get_settings()
    assert settings["webhookUrl"] == "http://127.0.0.1:9/hooks/greenapi/7"
    assert settings["webhookUrlToken"] == "hook-token"
    for name in ("incomingWebhook", "outgoingWebhook", "outgoingAPIMessageWebhook", "stateWebhook"):
        assert settings[name] == "yes"
    assert await env.wa.set_settings("", "") is True
    assert (await env.wa.get_settings())["webhookUrl"] == ""
    assert await env.wa.get_state() == "authorized"
    env.sim.set_state(ID, "blocked")
    assert await env.wa.get_state() == "blocked"


# ------------------------------------------------------------------------------ failures


async def test_rate_limit_is_retryable_with_a_default_pause(env: Env) -> None:
    env.sim.set_rate_limit(ID, 1)
    await env.wa.send_text(CUSTOMER, "first")
    error = await send_error(env)
    assert error.reason == RATE_LIMITED
    assert not error.permanent
    assert error.retry_after == 1.0
    assert error.status_code == 429
    assert env.sim.count_429(ID) == 1


async def test_retry_after_header_is_honoured(env: Env) -> None:
    env.sim.fail_next(ID, 429, headers={"Retry-After": "7"})
    error = await send_error(env)
    assert error.reason == RATE_LIMITED
    assert error.retry_after == 7.0


async def test_wrong_token_means_disconnected(env: Env) -> None:
    wrong = GreenApiClient(env.url, ID, "not-the-token", env.http)
    with pytest.raises(SendError) as caught:
        await wrong.send_text(CUSTOMER, "hello")
    assert caught.value.reason == DISCONNECTED
    assert caught.value.permanent
    assert caught.value.status_code == 401
    assert "not-the-token" not in str(caught.value)


async def test_forbidden_means_disconnected(env: Env) -> None:
    env.sim.fail_next(ID, 403)
    error = await send_error(env)
    assert error.reason == DISCONNECTED
    assert error.permanent


@pytest.mark.parametrize("state", ["notAuthorized", "blocked"])
async def test_unauthorized_instance_is_disconnected_for_good(env: Env, state: str) -> None:
    env.sim.set_state(ID, state)
    error = await send_error(env)
    assert error.reason == DISCONNECTED
    assert error.permanent
    assert error.status_code == 400


async def test_starting_instance_is_disconnected_for_now(env: Env) -> None:
    env.sim.set_state(ID, "starting")
    error = await send_error(env)
    assert error.reason == DISCONNECTED
    assert not error.permanent


async def test_bad_request_is_permanent(env: Env) -> None:
    with pytest.raises(SendError) as caught:
        await env.wa.send_text("not-a-chat-id", "hello")
    assert caught.value.reason == BAD_REQUEST
    assert caught.value.permanent
    assert "chatId" in caught.value.detail


async def test_quota_exceeded_is_permanent_with_its_own_reason(env: Env) -> None:
    env.sim.fail_next(
        ID,
        466,
        body={
            "invokeStatus": {
                "method": "sendmessage",
                "used": 67,
                "total": 0,
                "status": "QUOTE_EXCEEDED",
                "description": "Monthly quota has been exceeded.",
            },
            "correspondentsStatus": {
                "method": "correspondents",
                "used": 3,
                "total": 3,
                "status": "QUOTE_EXCEEDED",
                "description": "Monthly quota of chats has been exceeded.",
            },
        },
    )
    error = await send_error(env)
    assert error.reason == QUOTA_EXCEEDED
    assert error.permanent
    assert error.status_code == 466
    assert "Monthly quota" in error.detail


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retryable(env: Env, status: int) -> None:
    env.sim.fail_next(ID, status)
    error = await send_error(env)
    assert error.reason == SERVER_ERROR
    assert not error.permanent
    assert error.status_code == status


async def test_html_error_page_is_a_server_error(env: Env) -> None:
    env.sim.malformed_next(ID, kind="html", status=502)
    error = await send_error(env)
    assert error.reason == SERVER_ERROR


@pytest.mark.parametrize("kind", ["html", "truncated", "empty"])
async def test_unreadable_answers_are_malformed_and_retryable(env: Env, kind: str) -> None:
    env.sim.malformed_next(ID, kind=kind)
    error = await send_error(env)
    assert error.reason == MALFORMED
    assert not error.permanent


async def test_error_in_a_200_body(env: Env) -> None:
    env.sim.fail_next(ID, 200, body={"code": 401, "description": "Unauthorized"})
    error = await send_error(env)
    assert error.reason == DISCONNECTED


async def test_slow_answer_is_a_timeout(env: Env) -> None:
    env.sim.delay(ID, 0.3)
    quick = GreenApiClient(env.url, ID, TOKEN, env.http, timeout=0.05)
    with pytest.raises(SendError) as caught:
        await quick.send_text(CUSTOMER, "hello")
    assert caught.value.reason == TIMEOUT
    assert not caught.value.permanent


async def test_nobody_listening_is_a_network_error(env: Env) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    wa = GreenApiClient(dead, ID, TOKEN, env.http)
    with pytest.raises(SendError) as caught:
        await wa.send_text(CUSTOMER, "hello")
    assert caught.value.reason == NETWORK
    assert not caught.value.permanent
    assert TOKEN not in str(caught.value)


async def test_other_methods_map_errors_too(env: Env) -> None:
    env.sim.fail_next(ID, 500, method="getStateInstance")
    with pytest.raises(SendError) as caught:
        await env.wa.get_state()
    assert caught.value.reason == SERVER_ERROR
    env.sim.malformed_next(ID, kind="truncated", method="receiveNotification")
    with pytest.raises(SendError) as caught:
        await env.wa.receive_notification(5)
    assert caught.value.reason == MALFORMED


async def test_the_token_stays_out_of_repr() -> None:
    async with httpx.AsyncClient() as http:
        wa = GreenApiClient("http://127.0.0.1:1/", ID, TOKEN, http)
    assert TOKEN not in repr(wa)
    assert wa.base_url == "http://127.0.0.1:1"

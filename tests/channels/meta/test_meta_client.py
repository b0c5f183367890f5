"""The Cloud API client against the simulator over real sockets: requests, answers, errors."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import httpx
import pytest

from panelpilot.channels import base
from panelpilot.channels.base import Button, SendError
from panelpilot.channels.meta.client import TEXT_LIMIT, MetaClient, error_for
from panelpilot.channels.meta.normalize import normalize, split_events
from panelpilot.sim.meta import WINDOW_SECONDS, MetaSim
from panelpilot.sim.server import LoopbackServer

PNID = "106540352242922"
TOKEN = "EAAG-very-secret-token-123"
SECRET = "app-secret"
USER = "16505551234"


@dataclass
class Env:
    sim: MetaSim
    url: str
    http: httpx.AsyncClient
    client: MetaClient

    def other(self, *, token: str = TOKEN, pnid: str = PNID) -> MetaClient:
        return MetaClient(self.url, "v21.0", pnid, token, self.http)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[MetaSim, str]]:
    # One simulator for the module, in its own thread: starting and stopping a server per test
    # would cost more than the tests themselves. Each test resets it.
    sim = MetaSim(status_mode="off")
    server = LoopbackServer(sim.app)
    url = server.start_in_thread()
    yield sim, url
    server.stop_thread()


@pytest.fixture
async def env(served: tuple[MetaSim, str]) -> AsyncIterator[Env]:
    sim, url = served
    sim.reset()
    sim.add_number(PNID, TOKEN, SECRET)
    async with httpx.AsyncClient(trust_env=False) as http:
        yield Env(sim, url, http, MetaClient(url, "v21.0", PNID, TOKEN, http))


async def open_window(env: Env, wa_id: str = USER) -> str:
    """The user writes first, so free-form messages are allowed for 24 hours."""
    return await env.sim.user_says(PNID, wa_id, "hi", deliver=False)


async def send_error(coro: object) -> SendError:
    with pytest.raises(SendError) as caught:
        await coro  # type: ignore[misc]
    return caught.value


# ---------------------------------------------------------------------------- sending


async def test_send_text_returns_the_wamid(env: Env) -> None:
    await open_window(env)
    message_id = await env.client.send_text(USER, "Order 2274209: refill requested")
    [sent] = env.sim.sent(PNID, to=USER)
    assert message_id == sent.id and message_id.startswith("wamid.")
    assert sent.body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": USER,
        "type": "text",
        "text": {"body": "Order 2274209: refill requested", "preview_url": False},
    }


async def test_reply_to_and_link_preview(env: Env) -> None:
    inbound = await open_window(env)
    await env.client.send_text(USER, "see https://example.org/status", reply_to=inbound)
    [sent] = env.sim.sent(PNID)
    assert sent.body["context"] == {"message_id": inbound}
    assert sent.body["text"]["preview_url"] is True


async def test_up_to_three_buttons_become_reply_buttons(env: Env) -> None:
    await open_window(env)
    keyboard = [
        [Button("Refill", data="refill:1"), Button("Speed up", data="speed:1")],
        [Button("A very long button title here", data="cancel:1")],
    ]
    await env.client.send_text(USER, "What should we do?", keyboard=keyboard)
    [sent] = env.sim.sent(PNID)
    assert sent.type == "interactive"
    assert sent.body["interactive"]["type"] == "button"
    assert sent.body["interactive"]["body"] == {"text": "What should we do?"}
    assert [(b["id"], b["title"]) for b in sent.buttons] == [
        ("refill:1", "Refill"),
        ("speed:1", "Speed up"),
        ("cancel:1", "A very long button t"),
    ]


async def test_more_than_three_buttons_become_numbered_lines(env: Env) -> None:
    await open_window(env)
    keyboard = [[Button(f"Plan {i}", data=f"plan:{i}")] for i in range(1, 5)]
    await env.client.send_text(USER, "Pick a plan:", keyboard=keyboard)
    [sent] = env.sim.sent(PNID)
    assert sent.type == "text"
    assert sent.text == "Pick a plan:\n\n1. Plan 1\n2. Plan 2\n3. Plan 3\n4. Plan 4"


async def test_url_buttons_are_written_out(env: Env) -> None:
    await open_window(env)
    keyboard = [[Button("Pay", url="https://pay.example/x"), Button("Later", data="later")]]
    await env.client.send_text(USER, "Invoice ready", keyboard=keyboard)
    [sent] = env.sim.sent(PNID)
    assert sent.type == "text"
    assert "1. Pay: https://pay.example/x" in (sent.text or "")
    assert "2. Later" in (sent.text or "")


async def test_mark_read(env: Env) -> None:
    inbound = await open_window(env)
    await env.client.mark_read(inbound)
    assert env.sim.reads(PNID) == [inbound]


async def test_version_without_v_prefix_is_accepted(env: Env) -> None:
    await open_window(env)
    client = MetaClient(env.url + "/", "21.0", PNID, TOKEN, env.http)
    assert (await client.send_text(USER, "hi")).startswith("wamid.")


# ---------------------------------------------------------------------------- errors


async def test_outside_window_is_permanent(env: Env) -> None:
    error = await send_error(env.client.send_text(USER, "hello"))
    assert (error.reason, error.permanent, error.status_code) == (base.OUTSIDE_WINDOW, True, 400)
    await open_window(env)
    env.sim.advance(WINDOW_SECONDS + 1)
    error = await send_error(env.client.send_text(USER, "hello"))
    assert error.reason == base.OUTSIDE_WINDOW


async def test_bad_or_expired_token_is_disconnected(env: Env) -> None:
    error = await send_error(env.other(token="nope").send_text(USER, "x"))
    assert (error.reason, error.permanent, error.status_code) == (base.DISCONNECTED, True, 401)
    env.sim.expire_token(PNID)
    error = await send_error(env.client.send_text(USER, "x"))
    assert error.reason == base.DISCONNECTED


async def test_unknown_phone_number_id_is_a_bad_request(env: Env) -> None:
    error = await send_error(env.other(pnid="123").send_text(USER, "x"))
    assert (error.reason, error.permanent, error.status_code) == (base.BAD_REQUEST, True, 400)
    assert "#100" in error.detail


async def test_throughput_limit_is_rate_limited(env: Env) -> None:
    await open_window(env)
    env.sim.set_throughput(PNID, 2)
    results = await asyncio.gather(
        *(env.client.send_text(USER, f"m{i}") for i in range(5)), return_exceptions=True
    )
    errors = [r for r in results if isinstance(r, SendError)]
    assert len(errors) == 3
    assert all(e.reason == base.RATE_LIMITED and not e.permanent for e in errors)
    assert all(e.retry_after and 0 < e.retry_after <= 5 for e in errors)
    assert env.sim.throttled(PNID) == 3


async def test_pair_rate_limit_asks_for_a_longer_pause(env: Env) -> None:
    await open_window(env)
    env.sim.set_pair_limit(PNID, 1, 6.0)
    await env.client.send_text(USER, "one")
    error = await send_error(env.client.send_text(USER, "two"))
    assert (error.reason, error.retry_after) == (base.RATE_LIMITED, 6.0)


@pytest.mark.parametrize(
    ("status", "code", "reason", "permanent"),
    [
        (400, 131026, base.BLOCKED, True),
        (400, 131030, base.CHAT_NOT_FOUND, True),
        (400, 131009, base.BAD_REQUEST, True),
        (400, 100, base.BAD_REQUEST, True),
        (400, 80007, base.RATE_LIMITED, False),
        (400, 4, base.RATE_LIMITED, False),
        (400, 130429, base.RATE_LIMITED, False),
        (500, 131000, base.SERVER_ERROR, False),
        (503, 2, base.SERVER_ERROR, False),
        (400, 131000, base.SERVER_ERROR, False),
        (403, 10, base.DISCONNECTED, True),
        (401, 190, base.DISCONNECTED, True),
    ],
)
async def test_graph_errors_map_to_send_errors(
    env: Env, status: int, code: int, reason: str, permanent: bool
) -> None:
    await open_window(env)
    env.sim.fail_next(PNID, status, code=code)
    error = await send_error(env.client.send_text(USER, "x"))
    assert (error.reason, error.permanent, error.status_code) == (reason, permanent, status)
    assert f"#{code}" in error.detail


async def test_timeout(env: Env) -> None:
    # A number of its own: the late answer still lands after this test has ended.
    env.sim.add_number("777", TOKEN, SECRET)
    await env.sim.user_says("777", USER, "hi", deliver=False)
    env.sim.delay("777", 0.5)
    async with httpx.AsyncClient(trust_env=False, timeout=0.05) as http:
        client = MetaClient(env.url, "v21.0", "777", TOKEN, http)
        error = await send_error(client.send_text(USER, "x"))
    assert (error.reason, error.permanent) == (base.TIMEOUT, False)


async def test_connection_refused_is_network(env: Env) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = MetaClient(f"http://127.0.0.1:{port}", "v21.0", PNID, TOKEN, env.http)
    error = await send_error(client.send_text(USER, "x"))
    assert (error.reason, error.permanent) == (base.NETWORK, False)


async def test_html_instead_of_json(env: Env) -> None:
    await open_window(env)
    env.sim.malformed_next(PNID, status=200)
    error = await send_error(env.client.send_text(USER, "x"))
    assert (error.reason, error.permanent) == (base.MALFORMED, False)
    env.sim.malformed_next(PNID, status=502)
    error = await send_error(env.client.send_text(USER, "x"))
    assert (error.reason, error.permanent) == (base.SERVER_ERROR, False)
    env.sim.malformed_next(PNID, status=400)
    error = await send_error(env.client.send_text(USER, "x"))
    assert error.reason == base.MALFORMED


async def test_text_over_the_limit_is_refused_before_sending(env: Env) -> None:
    await open_window(env)
    error = await send_error(env.client.send_text(USER, "x" * (TEXT_LIMIT + 1)))
    assert (error.reason, error.permanent) == (base.BAD_REQUEST, True)
    assert env.sim.stats(PNID).get("requests", 0) == 0
    assert (await env.client.send_text(USER, "x" * TEXT_LIMIT)).startswith("wamid.")


async def test_token_never_reaches_logs_or_errors(
    env: Env, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    env.sim.fail_next(PNID, 500)
    errors = [
        await send_error(env.client.send_text(USER, "x")),
        await send_error(env.client.send_text(USER, "x")),
    ]
    assert caplog.records, "failures are logged"
    assert TOKEN not in caplog.text
    assert all(TOKEN not in str(e) and TOKEN not in repr(e) for e in errors)
    assert TOKEN not in repr(env.client)


# ---------------------------------------------------------------------------- helpers


def test_error_for_failed_status_webhooks() -> None:
    """A ``failed`` status carries the same codes; the outbox maps them with the same function."""
    payload = {
        "object": "whatsapp_business_account",
        "entry": [
            {
                "id": "1",
                "changes": [
                    {
                        "field": "messages",
                        "value": {
                            "messaging_product": "whatsapp",
                            "metadata": {"display_phone_number": "1555", "phone_number_id": PNID},
                            "statuses": [
                                {
                                    "id": "wamid.x",
                                    "status": "failed",
                                    "timestamp": "1",
                                    "recipient_id": USER,
                                    "errors": [{"code": 131047, "title": "Re-engagement message"}],
                                }
                            ],
                        },
                    }
                ],
            }
        ],
    }
    [event] = split_events(payload)
    result = normalize(event.payload)
    assert error_for(result.extra["error_code"]).reason == base.OUTSIDE_WINDOW


@pytest.mark.parametrize(
    ("code", "http_status", "reason"),
    [
        (None, 429, base.RATE_LIMITED),
        (None, 401, base.DISCONNECTED),
        (None, 404, base.BAD_REQUEST),
        (None, 502, base.SERVER_ERROR),
        (131056, 400, base.RATE_LIMITED),
        (131048, 400, base.RATE_LIMITED),
        (200, 403, base.DISCONNECTED),
        (131031, 403, base.DISCONNECTED),
        (131021, 400, base.BAD_REQUEST),
    ],
)
def test_error_for(code: int | None, http_status: int, reason: str) -> None:
    assert error_for(code, http_status=http_status).reason == reason

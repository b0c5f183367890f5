"""The Meta Graph API simulator, driven over real sockets like panelpilot will drive it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Mount, Route

from panelpilot.channels.meta.signature import verify_signature
from panelpilot.sim.meta import WINDOW_SECONDS, MetaSim
from panelpilot.sim.server import LoopbackServer

PNID = "106540352242922"
TOKEN = "EAAGtest-token"
SECRET = "app-secret-1"
VERIFY = "verify-me"
USER = "16505551234"


class Receiver:
    """A stand-in for panelpilot's webhook endpoint: records what Meta would POST to it."""

    def __init__(self) -> None:
        self.posts: list[tuple[bytes, dict[str, str]]] = []
        self.fail_first = 0
        self.verify_token = VERIFY
        self.app = Starlette(routes=[Route("/", self.handle, methods=["GET", "POST"])])

    async def handle(self, request: Request) -> Response:
        if request.method == "GET":
            query = request.query_params
            if (
                query.get("hub.mode") == "subscribe"
                and query.get("hub.verify_token") == self.verify_token
            ):
                return PlainTextResponse(query.get("hub.challenge", ""))
            return Response(status_code=403)
        self.posts.append((await request.body(), dict(request.headers)))
        if self.fail_first > 0:
            self.fail_first -= 1
            return Response("busy", status_code=500)
        return Response(status_code=200)

    def reset(self) -> None:
        self.posts.clear()
        self.fail_first = 0
        self.verify_token = VERIFY

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw, _ in self.posts]

    def statuses(self) -> list[tuple[str, str]]:
        found = []
        for payload in self.payloads():
            for entry in payload["entry"]:
                for change in entry["changes"]:
                    for status in change["value"].get("statuses", []):
                        found.append((status["id"], status["status"]))
        return found


@dataclass
class Env:
    sim: MetaSim
    url: str
    receiver: Receiver
    http: httpx.AsyncClient

    async def send(
        self, body: dict[str, Any], *, token: str = TOKEN, pnid: str = PNID, version: str = "v21.0"
    ) -> httpx.Response:
        return await self.http.post(
            f"{self.url}/{version}/{pnid}/messages",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
        )

    async def send_text(self, text: str = "hello", to: str = USER, **extra: Any) -> httpx.Response:
        body = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            "type": "text",
            "text": {"body": text, "preview_url": False},
            **extra,
        }
        return await self.send(body)

    async def drain(self) -> None:
        """Wait for queued status webhooks; the sim runs in another thread, so ask it over HTTP."""
        response = await self.http.post(f"{self.url}/_sim/drain", json={"timeout": 5})
        assert response.status_code == 200


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[MetaSim, Receiver, str]]:
    # One server for the module, in its own thread (a start/stop per test would cost more than
    # the tests). The receiver shares the socket; the sim still reaches it over TCP, exactly as
    # it would reach panelpilot.
    sim = MetaSim(retry_delays=(0.01, 0.02, 0.03))
    receiver = Receiver()
    both = Starlette(
        routes=[Mount("/hook", app=receiver.app), Mount("/", app=sim.app)], lifespan=sim.lifespan
    )
    server = LoopbackServer(both)
    url = server.start_in_thread()
    yield sim, receiver, url
    server.stop_thread()


@pytest.fixture
async def env(served: tuple[MetaSim, Receiver, str]) -> AsyncIterator[Env]:
    sim, receiver, url = served
    sim.add_number(PNID, TOKEN, SECRET, display_phone_number="15550783881", waba_id="WABA1")
    sim.set_webhook(f"{url}/hook/", VERIFY, SECRET)
    sim.set_statuses("each")
    sim.window_errors = "sync"
    async with httpx.AsyncClient(trust_env=False) as http:
        env = Env(sim, url, receiver, http)
        yield env
        await env.drain()  # nothing of this test may reach the next one
    sim.reset()
    receiver.reset()


def graph_error(response: httpx.Response) -> dict[str, Any]:
    error = response.json()["error"]
    assert isinstance(error["message"], str)
    assert isinstance(error["type"], str)
    assert error["fbtrace_id"]
    return error


# ---------------------------------------------------------------------------- sending


async def test_send_in_window_answers_like_the_cloud_api(env: Env) -> None:
    await env.sim.user_says(PNID, USER, "hi")
    response = await env.send_text("hello there", to="+1 650-555-1234")
    assert response.status_code == 200
    body = response.json()
    assert body["messaging_product"] == "whatsapp"
    assert body["contacts"] == [{"input": "+1 650-555-1234", "wa_id": USER}]
    message_id = body["messages"][0]["id"]
    assert message_id.startswith("wamid.")
    [sent] = env.sim.sent(PNID, to=USER)
    assert (sent.id, sent.text, sent.type) == (message_id, "hello there", "text")
    assert env.sim.stats(PNID)["sent"] == 1


async def test_bad_token_is_401_code_190(env: Env) -> None:
    response = await env.send(
        {"messaging_product": "whatsapp", "to": USER, "type": "text", "text": {"body": "x"}},
        token="wrong",
    )
    assert response.status_code == 401
    error = graph_error(response)
    assert (error["code"], error["type"]) == (190, "OAuthException")


async def test_expired_token_is_190(env: Env) -> None:
    env.sim.expire_token(PNID)
    response = await env.send_text()
    assert response.status_code == 401
    assert graph_error(response)["code"] == 190


async def test_unknown_phone_number_id_is_code_100(env: Env) -> None:
    response = await env.send(
        {"messaging_product": "whatsapp", "to": USER, "type": "text", "text": {"body": "x"}},
        pnid="999",
    )
    assert response.status_code == 400
    error = graph_error(response)
    assert error["code"] == 100
    assert error["error_subcode"] == 33


async def test_missing_messaging_product_and_too_long_text_are_rejected(env: Env) -> None:
    await env.sim.user_says(PNID, USER, "hi")
    response = await env.send({"to": USER, "type": "text", "text": {"body": "x"}})
    assert response.status_code == 400 and graph_error(response)["code"] == 100
    response = await env.send_text("x" * 4097)
    assert response.status_code == 400 and graph_error(response)["code"] == 100
    assert (await env.send_text("x" * 4096)).status_code == 200


async def test_user_who_never_wrote_is_outside_the_window(env: Env) -> None:
    response = await env.send_text()
    assert response.status_code == 400
    error = graph_error(response)
    assert error["code"] == 131047
    assert "24 hours" in error["error_data"]["details"]
    assert env.sim.stats(PNID)["outside_window"] == 1
    assert env.sim.sent(PNID) == []


async def test_window_closes_24_hours_after_the_last_user_message(env: Env) -> None:
    await env.sim.user_says(PNID, USER, "hi")
    env.sim.advance(WINDOW_SECONDS - 60)
    assert (await env.send_text()).status_code == 200
    env.sim.advance(120)
    response = await env.send_text()
    assert graph_error(response)["code"] == 131047
    # A template may still be sent; a new user message reopens the window.
    template = {
        "messaging_product": "whatsapp",
        "to": USER,
        "type": "template",
        "template": {"name": "hello_world", "language": {"code": "en_US"}},
    }
    answer = await env.send(template)
    assert answer.status_code == 200
    assert answer.json()["messages"][0]["message_status"] == "accepted"
    await env.sim.user_says(PNID, USER, "back")
    assert (await env.send_text()).status_code == 200


async def test_async_window_mode_reports_a_failed_status(env: Env) -> None:
    env.sim.window_errors = "async"
    response = await env.send_text()
    assert response.status_code == 200
    message_id = response.json()["messages"][0]["id"]
    await env.drain()
    [payload] = env.receiver.payloads()
    [status] = payload["entry"][0]["changes"][0]["value"]["statuses"]
    assert (status["id"], status["status"]) == (message_id, "failed")
    assert status["errors"][0]["code"] == 131047


async def test_throughput_limit_answers_130429(env: Env) -> None:
    await env.sim.user_says(PNID, USER, "hi")
    env.sim.set_throughput(PNID, 5)
    responses = await asyncio.gather(*(env.send_text(f"m{i}") for i in range(12)))
    ok = [r for r in responses if r.status_code == 200]
    throttled = [r for r in responses if r.status_code != 200]
    assert len(ok) == 5
    assert all(r.status_code == 429 and graph_error(r)["code"] == 130429 for r in throttled)
    assert env.sim.throttled(PNID) == 7


async def test_default_throughput_is_80_per_second() -> None:
    assert MetaSim().throughput == 80


async def test_pair_rate_limit_answers_131056(env: Env) -> None:
    await env.sim.user_says(PNID, USER, "hi")
    env.sim.set_pair_limit(PNID, 2, 6.0)
    codes = [(await env.send_text()).status_code for _ in range(3)]
    assert codes[:2] == [200, 200]
    response = await env.send_text()
    assert graph_error(response)["code"] == 131056
    assert env.sim.throttled(PNID) == 2


async def test_fail_next_injects_graph_errors_then_recovers(env: Env) -> None:
    await env.sim.user_says(PNID, USER, "hi")
    env.sim.fail_next(PNID, 500, 2)
    env.sim.fail_next(PNID, 400, code=131026)
    first, second, third = [await env.send_text() for _ in range(3)]
    assert (first.status_code, graph_error(first)["code"]) == (500, 131000)
    assert second.status_code == 500
    assert (third.status_code, graph_error(third)["code"]) == (400, 131026)
    assert (await env.send_text()).status_code == 200


async def test_malformed_answer_is_an_html_page(env: Env) -> None:
    env.sim.malformed_next(PNID, status=502)
    response = await env.send_text()
    assert response.status_code == 502
    assert response.headers["content-type"].startswith("text/html")
    with pytest.raises(ValueError):
        response.json()


async def test_delay_makes_the_answer_late(env: Env) -> None:
    # A number of its own: the late answer still lands after this test has ended.
    env.sim.add_number("777", TOKEN, SECRET)
    await env.sim.user_says("777", USER, "hi", deliver=False)
    env.sim.delay("777", 0.5)
    with pytest.raises(httpx.TimeoutException):
        await env.http.post(
            f"{env.url}/v21.0/777/messages",
            json={"messaging_product": "whatsapp", "to": USER, "text": {"body": "x"}},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=0.05,
        )
    env.sim.delay("777", 0)


async def test_interactive_buttons_are_validated(env: Env) -> None:
    await env.sim.user_says(PNID, USER, "hi")
    buttons = [{"type": "reply", "reply": {"id": f"b{i}", "title": f"B{i}"}} for i in range(4)]

    def body(count: int) -> dict[str, Any]:
        return {
            "messaging_product": "whatsapp",
            "to": USER,
            "type": "interactive",
            "interactive": {
                "type": "button",
                "body": {"text": "pick"},
                "action": {"buttons": buttons[:count]},
            },
        }

    response = await env.send(body(4))
    assert graph_error(response)["code"] == 131009
    assert (await env.send(body(3))).status_code == 200
    [sent] = env.sim.sent(PNID)
    assert [b["id"] for b in sent.buttons] == ["b0", "b1", "b2"]
    assert sent.text == "pick"


async def test_mark_as_read(env: Env) -> None:
    message_id = await env.sim.user_says(PNID, USER, "hi")
    read = {"messaging_product": "whatsapp", "status": "read", "message_id": message_id}
    response = await env.send(read)
    assert response.json() == {"success": True}
    assert env.sim.reads(PNID) == [message_id]
    unknown = await env.send({**read, "message_id": "wamid.nope"})
    assert unknown.status_code == 400


# ---------------------------------------------------------------------------- webhooks


async def test_user_says_posts_a_signed_realistic_webhook(env: Env) -> None:
    message_id = await env.sim.user_says(
        PNID, USER, "Grüße / 👋", name="Sheena Nelson", context_id="wamid.CTX"
    )
    [(raw, headers)] = env.receiver.posts
    assert verify_signature(SECRET, raw, headers["x-hub-signature-256"])
    assert not verify_signature("other-secret", raw, headers["x-hub-signature-256"])
    # Meta escapes non-ASCII and slashes; the signature covers exactly these bytes.
    assert b"\\u00fc" in raw and b"\\/" in raw and b"\\ud83d" in raw
    payload = json.loads(raw)
    assert payload["object"] == "whatsapp_business_account"
    [entry] = payload["entry"]
    assert entry["id"] == "WABA1"
    [change] = entry["changes"]
    assert change["field"] == "messages"
    value = change["value"]
    assert value["messaging_product"] == "whatsapp"
    assert value["metadata"] == {"display_phone_number": "15550783881", "phone_number_id": PNID}
    assert value["contacts"] == [{"profile": {"name": "Sheena Nelson"}, "wa_id": USER}]
    [message] = value["messages"]
    assert message["from"] == USER
    assert message["id"] == message_id and message_id.startswith("wamid.")
    assert message["timestamp"].isdigit()
    assert message["type"] == "text"
    assert message["text"] == {"body": "Grüße / 👋"}
    assert message["context"] == {"from": "15550783881", "id": "wamid.CTX"}


async def test_webhook_is_retried_on_non_2xx(env: Env) -> None:
    env.receiver.fail_first = 2
    await env.sim.user_says(PNID, USER, "hi")
    assert len(env.receiver.posts) == 3
    assert len({raw for raw, _ in env.receiver.posts}) == 1
    delivery = env.sim.deliveries[-1]
    assert (delivery.ok, delivery.attempts, delivery.status_code) == (True, 3, 200)


async def test_every_send_produces_sent_delivered_read_statuses(env: Env) -> None:
    await env.sim.user_says(PNID, USER, "hi")
    message_id = (await env.send_text()).json()["messages"][0]["id"]
    await env.drain()
    assert env.receiver.statuses() == [
        (message_id, "sent"),
        (message_id, "delivered"),
        (message_id, "read"),
    ]
    for raw, headers in env.receiver.posts:
        assert verify_signature(SECRET, raw, headers["x-hub-signature-256"])
    sent_status = env.receiver.payloads()[1]["entry"][0]["changes"][0]["value"]["statuses"][0]
    assert sent_status["recipient_id"] == USER
    assert sent_status["pricing"]["category"] == "service"
    assert env.sim.sent(PNID)[0].statuses == ["sent", "delivered", "read"]


async def test_statuses_batched_and_out_of_order(env: Env) -> None:
    await env.sim.user_says(PNID, USER, "hi")
    env.sim.set_statuses("batched")
    first = (await env.send_text()).json()["messages"][0]["id"]
    env.sim.set_statuses("reversed", ("sent", "read"))
    second = (await env.send_text()).json()["messages"][0]["id"]
    await env.drain()
    payloads = env.receiver.payloads()[1:]  # after the user's message
    batched = payloads[0]["entry"][0]["changes"][0]["value"]["statuses"]
    assert [(s["id"], s["status"]) for s in batched] == [
        (first, "sent"),
        (first, "delivered"),
        (first, "read"),
    ]
    assert env.receiver.statuses()[3:] == [(second, "read"), (second, "sent")]


async def test_push_statuses_sends_one_body_for_several_messages(env: Env) -> None:
    await env.sim.user_says(PNID, USER, "hi")
    env.sim.set_statuses("off")
    a = (await env.send_text("a")).json()["messages"][0]["id"]
    b = (await env.send_text("b")).json()["messages"][0]["id"]
    delivery = await env.sim.push_statuses(PNID, [(b, "delivered"), (a, "delivered")])
    assert delivery.ok
    statuses = delivery.payload()["entry"][0]["changes"][0]["value"]["statuses"]
    assert [s["id"] for s in statuses] == [b, a]


async def test_verification_handshake(env: Env) -> None:
    assert await env.sim.verify_webhook(SECRET) is True
    assert await env.sim.verify_webhook(SECRET, verify_token="wrong") is False
    env.receiver.verify_token = "changed"
    assert await env.sim.verify_webhook() is False
    assert [v["ok"] for v in env.sim.verifications] == [True, False, False]


async def test_button_and_list_replies(env: Env) -> None:
    await env.sim.user_says(PNID, USER, "hi")
    buttons = {
        "messaging_product": "whatsapp",
        "to": USER,
        "type": "interactive",
        "interactive": {
            "type": "button",
            "body": {"text": "Refill?"},
            "action": {
                "buttons": [{"type": "reply", "reply": {"id": "refill:42", "title": "Yes"}}]
            },
        },
    }
    sent_id = (await env.send(buttons)).json()["messages"][0]["id"]
    await env.sim.user_presses(PNID, USER, "refill:42")
    message = env.receiver.payloads()[-1]["entry"][0]["changes"][0]["value"]["messages"][0]
    assert message["type"] == "interactive"
    assert message["interactive"] == {
        "type": "button_reply",
        "button_reply": {"id": "refill:42", "title": "Yes"},
    }
    assert message["context"]["id"] == sent_id

    rows = [{"id": "r1", "title": "Row one", "description": "first"}]
    listing = {
        "messaging_product": "whatsapp",
        "to": USER,
        "type": "interactive",
        "interactive": {
            "type": "list",
            "body": {"text": "Choose"},
            "action": {"button": "Options", "sections": [{"title": "S", "rows": rows}]},
        },
    }
    await env.send(listing)
    await env.sim.user_presses(PNID, USER, "r1")
    message = env.receiver.payloads()[-1]["entry"][0]["changes"][0]["value"]["messages"][0]
    assert message["interactive"]["list_reply"] == {
        "id": "r1",
        "title": "Row one",
        "description": "first",
    }

    await env.sim.user_presses(PNID, USER, "STOP", title="Stop promotions", kind="button")
    message = env.receiver.payloads()[-1]["entry"][0]["changes"][0]["value"]["messages"][0]
    assert message["button"] == {"payload": "STOP", "text": "Stop promotions"}
    with pytest.raises(LookupError):
        await env.sim.user_presses(PNID, USER, "never-sent")


async def test_business_app_echo(env: Env) -> None:
    echo_id = await env.sim.business_app_echo(PNID, USER, "typed on the phone")
    change = env.receiver.payloads()[-1]["entry"][0]["changes"][0]
    assert change["field"] == "smb_message_echoes"
    [echo] = change["value"]["message_echoes"]
    assert (echo["id"], echo["to"], echo["text"]["body"]) == (echo_id, USER, "typed on the phone")


async def test_recipient_error_as_failed_status(env: Env) -> None:
    await env.sim.user_says(PNID, USER, "hi")
    env.sim.set_recipient_error(USER, 131026)
    message_id = (await env.send_text()).json()["messages"][0]["id"]
    await env.drain()
    assert env.receiver.statuses()[-1] == (message_id, "failed")
    env.sim.set_recipient_error(USER, 131030, sync=True)
    assert graph_error(await env.send_text())["code"] == 131030


# ---------------------------------------------------------------------------- control API


async def test_control_api_drives_the_sim(env: Env) -> None:
    async def control(action: str, **data: Any) -> Any:
        response = await env.http.post(f"{env.url}/_sim/{action}", json=data)
        assert response.status_code == 200, response.text
        return response.json()

    await control("numbers", phone_number_id="222", access_token="t2", app_secret=SECRET)
    said = await control("user_says", phone_number_id="222", wa_id=USER, text="hi")
    assert said["delivery"]["ok"] is True
    text = {"messaging_product": "whatsapp", "to": USER, "text": {"body": "x"}}
    wrong_owner = await env.send(text, pnid="222")  # TOKEN is valid, but not for number 222
    assert (wrong_owner.status_code, graph_error(wrong_owner)["code"]) == (400, 100)
    ok = await env.http.post(
        f"{env.url}/v21.0/222/messages",
        headers={"Authorization": "Bearer t2"},
        json={"messaging_product": "whatsapp", "to": USER, "text": {"body": "yo"}},
    )
    assert ok.status_code == 200
    sent = (await env.http.get(f"{env.url}/_sim/sent", params={"phone_number_id": "222"})).json()
    assert [m["text"] for m in sent["messages"]] == ["yo"]
    await control("advance", seconds=WINDOW_SECONDS + 1)
    await control("fail_next", phone_number_id="222", status=503)
    failed = await env.http.post(
        f"{env.url}/v21.0/222/messages",
        headers={"Authorization": "Bearer t2"},
        json={"messaging_product": "whatsapp", "to": USER, "text": {"body": "yo"}},
    )
    assert failed.status_code == 503
    assert (await control("verify"))["ok"] is True
    await control("drain")
    stats = (await env.http.get(f"{env.url}/_sim/stats", params={"phone_number_id": "222"})).json()
    assert stats["stats"]["sent"] == 1 and stats["stats"]["inbound"] == 1
    bad = await env.http.post(f"{env.url}/_sim/fail_next", json={"status": 500})
    assert bad.status_code == 400
    assert (await env.http.post(f"{env.url}/_sim/nope")).status_code == 404


def test_runs_standalone() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "panelpilot.sim.meta",
            "--port",
            "0",
            "--number",
            f"{PNID}:{TOKEN}:{SECRET}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("meta sim listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1].strip()
        response = httpx.get(
            f"{url}/v21.0/{PNID}", headers={"Authorization": f"Bearer {TOKEN}"}, trust_env=False
        )
        assert response.json()["id"] == PNID
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_in_loop_server_drains_and_closes() -> None:
    """Served from the test's own loop, ``drain`` and the lifespan work directly."""
    sim = MetaSim()
    sim.add_number(PNID, TOKEN, SECRET)
    receiver = Receiver()
    both = Starlette(
        routes=[Mount("/hook", app=receiver.app), Mount("/", app=sim.app)], lifespan=sim.lifespan
    )
    async with LoopbackServer(both) as server, httpx.AsyncClient(trust_env=False) as http:
        sim.set_webhook(f"{server.url}/hook/", VERIFY, SECRET)
        await sim.user_says(PNID, USER, "hi")
        env = Env(sim, server.url, receiver, http)
        message_id = (await env.send_text()).json()["messages"][0]["id"]
        await asyncio.wait_for(sim.drain(), 5)
        assert receiver.statuses() == [
            (message_id, "sent"),
            (message_id, "delivered"),
            (message_id, "read"),
        ]
    assert sim._worker is None

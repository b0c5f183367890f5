"""The Green API simulator over real sockets: the published API, its errors, queue and webhooks."""

from __future__ import annotations

import asyncio
import json
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from panelpilot.sim.greenapi import GreenApiSim
from panelpilot.sim.server import LoopbackServer

ID = "1101000001"
TOKEN = "d75b3a66374942c5b3c019c698abc2067e151558acbd412345"
WID = "79001234567@c.us"
CUSTOMER = "79876543210@c.us"


@dataclass
class Api:
    sim: GreenApiSim
    url: str
    http: httpx.AsyncClient

    def path(self, method: str, token: str = TOKEN, id_instance: str = ID) -> str:
        return f"{self.url}/waInstance{id_instance}/{method}/{token}"

    async def send(self, chat_id: str = CUSTOMER, message: str = "hello", **extra: Any) -> Any:
        return await self.http.post(
            self.path("sendMessage"), json={"chatId": chat_id, "message": message, **extra}
        )

    async def receive(self, seconds: int = 5) -> Any:
        answer = await self.http.get(
            self.path("receiveNotification"), params={"receiveTimeout": seconds}
        )
        assert answer.status_code == 200
        return answer.json()

    async def delete(self, receipt_id: int) -> Any:
        answer = await self.http.delete(f"{self.path('deleteNotification')}/{receipt_id}")
        assert answer.status_code == 200
        return answer.json()

    async def drain(self) -> list[dict[str, Any]]:
        """Every queued notification body, deleting each (receive, then delete, like a poller)."""
        bodies = []
        while (item := await self.receive()) is not None:
            bodies.append(item["body"])
            assert (await self.delete(item["receiptId"])) == {"result": True}
        return bodies


def serve(app: Any) -> LoopbackServer:
    server = LoopbackServer(app)
    return server


@pytest.fixture
async def api() -> AsyncIterator[Api]:
    # 5 s of receiveTimeout become 50 ms; webhooks retry after 50 ms instead of a minute;
    # the settings methods (1 call/s in the docs) are unlimited so tests can call them twice
    sim = GreenApiSim(
        receive_timeout_scale=0.01,
        webhook_retry_interval=0.05,
        rate_limits={"getSettings": None, "setSettings": None, "getStateInstance": None},
    )
    sim.add_instance(ID, TOKEN, WID)
    async with serve(sim.app) as server, httpx.AsyncClient(timeout=10) as http:
        yield Api(sim, server.url, http)


@dataclass
class Receiver:
    """A webhook endpoint: records each POST, answers the planned statuses, then 200."""

    plan: list[int] = field(default_factory=list)
    hits: list[tuple[dict[str, str], Any]] = field(default_factory=list)
    event: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""

    async def endpoint(self, request: Request) -> Response:
        self.hits.append((dict(request.headers), json.loads(await request.body())))
        self.event.set()
        status = self.plan.pop(0) if self.plan else 200
        return JSONResponse({}, status)

    async def wait_for(self, count: int) -> None:
        async def until() -> None:
            while len(self.hits) < count:
                self.event.clear()
                await self.event.wait()

        await asyncio.wait_for(until(), 5)

    @property
    def bodies(self) -> list[Any]:
        return [body for _, body in self.hits]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = Starlette(routes=[Route("/hook", rec.endpoint, methods=["POST"])])
    async with serve(app) as server:
        rec.url = f"{server.url}/hook"
        yield rec


# ------------------------------------------------------------------------------ sending


async def test_send_message_answers_an_id_and_is_recorded(api: Api) -> None:
    answer = await api.send(message="EXT-99812 refill")
    assert answer.status_code == 200
    id_message = answer.json()["idMessage"]
    assert isinstance(id_message, str) and id_message
    await api.send(chat_id="120363043968066561@g.us", message="to the group")
    sent = api.sim.sent(ID)
    assert [s.message for s in sent] == ["EXT-99812 refill", "to the group"]
    assert sent[0].id_message == id_message
    assert [s.message for s in api.sim.sent(ID, chat_id=CUSTOMER)] == ["EXT-99812 refill"]
    assert api.sim.calls(ID, "sendMessage") == 2


async def test_send_message_keeps_quote_and_link_preview(api: Api) -> None:
    await api.send(quotedMessageId="BAE5F4886F5E5F76", linkPreview=False)
    sent = api.sim.sent(ID)[0]
    assert sent.quoted_message_id == "BAE5F4886F5E5F76"
    assert sent.link_preview is False


async def test_wrong_token_or_instance_is_401_and_not_counted(api: Api) -> None:
    wrong_token = await api.http.get(api.path("getStateInstance", token="nope"))
    wrong_instance = await api.http.get(api.path("getStateInstance", id_instance="999"))
    assert wrong_token.status_code == 401
    assert wrong_instance.status_code == 401
    assert api.sim.calls(ID) == 0


async def test_send_message_validation(api: Api) -> None:
    no_chat = await api.http.post(api.path("sendMessage"), json={"message": "x"})
    bad_chat = await api.send(chat_id="79876543210")
    not_json = await api.http.post(api.path("sendMessage"), content=b"{oops")
    too_long = await api.send(message="x" * 20001)
    at_limit = await api.send(message="x" * 20000)
    assert [no_chat.status_code, bad_chat.status_code, not_json.status_code] == [400, 400, 400]
    assert too_long.status_code == 400
    assert "20000" in too_long.json()["description"]
    assert at_limit.status_code == 200
    assert len(api.sim.sent(ID)) == 1


async def test_unknown_method_and_wrong_verb(api: Api) -> None:
    assert (await api.http.get(api.path("sendFooBar"))).status_code == 404
    assert (await api.http.get(api.path("sendMessage"))).status_code == 405


async def test_method_names_are_case_insensitive(api: Api) -> None:
    answer = await api.http.get(api.path("getstateinstance"))
    assert answer.json() == {"stateInstance": "authorized"}


# ------------------------------------------------------------------------------ the queue


async def test_empty_queue_answers_null_after_the_wait(api: Api) -> None:
    assert await api.receive() is None
    assert api.sim.calls(ID, "receiveNotification") == 1


async def test_notifications_stay_until_deleted_in_order(api: Api) -> None:
    first = api.sim.user_says(ID, CUSTOMER, "one")
    second = api.sim.user_says(ID, CUSTOMER, "two")
    head = await api.receive()
    again = await api.receive()
    assert head == again  # not deleted: the same notification comes back
    assert head["body"]["idMessage"] == first
    assert await api.delete(head["receiptId"]) == {"result": True}
    nxt = await api.receive()
    assert nxt["body"]["idMessage"] == second
    assert nxt["receiptId"] > head["receiptId"]
    assert await api.delete(head["receiptId"]) == {"result": False}


async def test_delete_notification_needs_an_integer_receipt(api: Api) -> None:
    answer = await api.http.delete(f"{api.path('deleteNotification')}/abc")
    assert answer.status_code == 400


async def test_receive_notification_is_a_long_poll(api: Api) -> None:
    api.sim.receive_timeout_scale = 1.0  # a real 60 s wait: only a new message can end it early
    poll = asyncio.create_task(api.receive(60))
    await asyncio.sleep(0.05)
    assert not poll.done()
    id_message = api.sim.user_says(ID, CUSTOMER, "2274209 refill")
    answer = await asyncio.wait_for(poll, 5)
    assert answer["body"]["idMessage"] == id_message


async def test_long_poll_wakes_when_the_sim_runs_in_a_thread() -> None:
    sim = GreenApiSim()
    sim.add_instance(ID, TOKEN, WID)
    server = LoopbackServer(sim.app)
    url = server.start_in_thread()
    try:
        async with httpx.AsyncClient(timeout=70) as http:
            poll = asyncio.create_task(
                http.get(
                    f"{url}/waInstance{ID}/receiveNotification/{TOKEN}",
                    params={"receiveTimeout": 60},
                )
            )
            await asyncio.sleep(0.05)
            sim.user_says(ID, CUSTOMER, "from another thread")
            answer = await asyncio.wait_for(poll, 5)
        assert answer.json()["body"]["messageData"]["textMessageData"]["textMessage"] == (
            "from another thread"
        )
    finally:
        server.stop_thread()


async def test_receive_timeout_must_be_a_number(api: Api) -> None:
    answer = await api.http.get(api.path("receiveNotification"), params={"receiveTimeout": "soon"})
    assert answer.status_code == 400


# ------------------------------------------------------------------------------ inbound shapes


async def test_user_says_private_text_message(api: Api) -> None:
    id_message = api.sim.user_says(ID, "79876543210", "2274209 refill", sender_name="Ivan")
    [body] = await api.drain()
    assert body["typeWebhook"] == "incomingMessageReceived"
    assert body["instanceData"] == {
        "idInstance": 1101000001,
        "wid": WID,
        "typeInstance": "whatsapp",
    }
    assert isinstance(body["timestamp"], int)
    assert body["idMessage"] == id_message
    assert body["senderData"] == {
        "chatId": CUSTOMER,
        "chatName": "Ivan",
        "sender": CUSTOMER,
        "senderName": "Ivan",
        "senderContactName": "",
    }
    assert body["messageData"] == {
        "typeMessage": "textMessage",
        "textMessageData": {"textMessage": "2274209 refill"},
    }


async def test_user_says_extended_text(api: Api) -> None:
    api.sim.user_says(ID, CUSTOMER, "see https://panel.example/orders", extended=True)
    [body] = await api.drain()
    data = body["messageData"]
    assert data["typeMessage"] == "extendedTextMessage"
    assert data["extendedTextMessageData"]["text"] == "see https://panel.example/orders"


async def test_user_says_in_a_group(api: Api) -> None:
    api.sim.user_says(
        ID,
        "120363043968066561",
        "EXT-1 done",
        group=True,
        sender="79005554433@c.us",
        sender_name="Provider",
        chat_name="Provider support",
    )
    [body] = await api.drain()
    assert body["senderData"]["chatId"] == "120363043968066561@g.us"
    assert body["senderData"]["sender"] == "79005554433@c.us"
    assert body["senderData"]["chatName"] == "Provider support"


async def test_user_replies_quoting_our_message(api: Api) -> None:
    ours = (await api.send(message="Which order?")).json()["idMessage"]
    await api.drain()
    api.sim.user_says(ID, CUSTOMER, "2274209", quoted_message_id=ours)
    [body] = await api.drain()
    data = body["messageData"]
    assert data["typeMessage"] == "quotedMessage"
    assert data["extendedTextMessageData"]["text"] == "2274209"
    assert data["extendedTextMessageData"]["stanzaId"] == ours
    assert data["quotedMessage"]["stanzaId"] == ours
    assert data["quotedMessage"]["textMessage"] == "Which order?"
    assert data["quotedMessage"]["participant"] == WID


async def test_user_edits_a_message(api: Api) -> None:
    original = api.sim.user_says(ID, CUSTOMER, "2274209 refil")
    api.sim.user_edits(ID, CUSTOMER, original, "2274209 refill")
    bodies = await api.drain()
    edited = bodies[1]["messageData"]
    assert edited == {
        "typeMessage": "editedMessage",
        "editedMessageData": {"textMessage": "2274209 refill", "stanzaId": original},
    }


# ------------------------------------------------------------------------------ echoes, statuses


async def test_each_send_is_echoed_then_sent_delivered_read(api: Api) -> None:
    id_message = (await api.send(message="Order 2274209 is in progress")).json()["idMessage"]
    bodies = await api.drain()
    echo = bodies[0]
    assert echo["typeWebhook"] == "outgoingAPIMessageReceived"
    assert echo["idMessage"] == id_message
    assert echo["senderData"]["chatId"] == CUSTOMER
    assert echo["senderData"]["sender"] == WID
    assert echo["messageData"]["extendedTextMessageData"]["text"] == "Order 2274209 is in progress"
    statuses = bodies[1:]
    assert [b["status"] for b in statuses] == ["sent", "delivered", "read"]
    for body in statuses:
        assert body["typeWebhook"] == "outgoingMessageStatus"
        assert body["idMessage"] == id_message
        assert body["chatId"] == CUSTOMER
        assert body["sendByApi"] is True


async def test_statuses_out_of_order_on_request(api: Api) -> None:
    api.sim.set_status_order(ID, ["read", "sent", "delivered"])
    await api.send()
    bodies = await api.drain()
    assert [b.get("status") for b in bodies[1:]] == ["read", "sent", "delivered"]


async def test_no_account_status_even_with_outgoing_webhook_off(api: Api) -> None:
    setting = await api.http.post(api.path("setSettings"), json={"outgoingWebhook": "no"})
    assert setting.json() == {"saveSettings": True}
    api.sim.set_no_account(ID, "70000000000@c.us")
    await api.send(chat_id="70000000000@c.us")
    await api.send()
    statuses = [
        b["status"] for b in await api.drain() if b["typeWebhook"] != "outgoingAPIMessageReceived"
    ]
    assert statuses == ["noAccount"]


async def test_emit_status_with_description(api: Api) -> None:
    id_message = (await api.send()).json()["idMessage"]
    await api.drain()
    api.sim.emit_status(ID, id_message, "failed", description="Recipient not on WhatsApp")
    [body] = await api.drain()
    assert body["status"] == "failed"
    assert body["chatId"] == CUSTOMER
    assert body["description"] == "Recipient not on WhatsApp"


async def test_notifications_follow_the_settings(api: Api) -> None:
    await api.http.post(
        api.path("setSettings"),
        json={"incomingWebhook": "no", "outgoingAPIMessageWebhook": "no", "outgoingWebhook": "no"},
    )
    api.sim.user_says(ID, CUSTOMER, "nobody hears this")
    await api.send()
    assert await api.drain() == []


async def test_a_new_instance_can_start_with_everything_off(api: Api) -> None:
    api.sim.add_instance("1101000002", "other-token", notifications=False)
    api.sim.user_says("1101000002", CUSTOMER, "hello")
    assert api.sim.pending("1101000002") == []


async def test_push_notification_queues_any_body(api: Api) -> None:
    call = {
        "typeWebhook": "incomingCall",
        "idMessage": "CALL1",
        "from": CUSTOMER,
        "status": "offer",
    }
    api.sim.push_notification(ID, call)
    assert await api.drain() == [call]


# ------------------------------------------------------------------------------ settings, state


async def test_settings_round_trip(api: Api, receiver: Receiver) -> None:
    before = (await api.http.get(api.path("getSettings"))).json()
    assert before["wid"] == WID
    assert before["webhookUrl"] == ""
    saved = await api.http.post(
        api.path("setSettings"), json={"webhookUrl": receiver.url, "webhookUrlToken": "s3cret"}
    )
    assert saved.json() == {"saveSettings": True}
    after = (await api.http.get(api.path("getSettings"))).json()
    assert after["webhookUrl"] == receiver.url
    assert after["webhookUrlToken"] == "s3cret"
    assert after["incomingWebhook"] == "yes"


async def test_set_settings_needs_a_setting(api: Api) -> None:
    answer = await api.http.post(api.path("setSettings"), json={})
    assert answer.status_code == 400


async def test_webhooks_only_go_to_loopback(api: Api) -> None:
    answer = await api.http.post(
        api.path("setSettings"), json={"webhookUrl": "https://example.com/hook"}
    )
    assert answer.status_code == 400


async def test_state_change_refuses_sends_and_is_notified(api: Api) -> None:
    api.sim.set_state(ID, "notAuthorized")
    state = (await api.http.get(api.path("getStateInstance"))).json()
    refused = await api.send()
    assert state == {"stateInstance": "notAuthorized"}
    assert refused.status_code == 400
    assert "not authorized" in refused.json()["description"]
    assert api.sim.sent(ID) == []
    [body] = await api.drain()
    assert body["typeWebhook"] == "stateInstanceChanged"
    assert body["stateInstance"] == "notAuthorized"
    assert body["instanceData"]["idInstance"] == 1101000001
    api.sim.set_state(ID, "authorized")
    assert (await api.send()).status_code == 200


async def test_unknown_state_is_refused(api: Api) -> None:
    with pytest.raises(ValueError):
        api.sim.set_state(ID, "sleeping")


async def test_wa_settings(api: Api) -> None:
    answer = (await api.http.get(api.path("getWaSettings"))).json()
    assert answer["phone"] == "79001234567"
    assert answer["stateInstance"] == "authorized"


# ------------------------------------------------------------------------------ limits, faults


async def test_send_rate_limit_answers_429(api: Api) -> None:
    api.sim.set_rate_limit(ID, 3)
    codes = [(await api.send()).status_code for _ in range(5)]
    assert codes == [200, 200, 200, 429, 429]
    assert api.sim.count_429(ID) == 2
    assert len(api.sim.sent(ID)) == 3


async def test_default_limits_follow_the_docs() -> None:
    sim = GreenApiSim()
    sim.add_instance(ID, TOKEN, WID)
    async with LoopbackServer(sim.app) as server, httpx.AsyncClient() as http:
        url = f"{server.url}/waInstance{ID}/getSettings/{TOKEN}"
        first = await http.get(url)
        second = await http.get(url)
    assert [first.status_code, second.status_code] == [200, 429]  # getSettings: 1 per second


async def test_fail_next_then_recover(api: Api) -> None:
    api.sim.fail_next(ID, 500, 2)
    codes = [(await api.send()).status_code for _ in range(3)]
    assert codes == [500, 500, 200]


async def test_fail_next_for_one_method(api: Api) -> None:
    api.sim.fail_next(ID, 502, method="sendMessage", headers={"Retry-After": "3"})
    state = await api.http.get(api.path("getStateInstance"))
    failed = await api.send()
    assert state.status_code == 200
    assert failed.status_code == 502
    assert failed.headers["Retry-After"] == "3"


async def test_fail_next_with_a_body(api: Api) -> None:
    quota = {"invokeStatus": {"method": "sendmessage", "status": "QUOTE_EXCEEDED"}}
    api.sim.fail_next(ID, 466, body=quota)
    answer = await api.send()
    assert answer.status_code == 466
    assert answer.json() == quota


async def test_delay_holds_the_answer(api: Api) -> None:
    api.sim.delay(ID, 0.3)
    with pytest.raises(httpx.ReadTimeout):
        await api.http.get(api.path("getStateInstance"), timeout=0.1)
    api.sim.delay(ID, 0)
    assert (await api.http.get(api.path("getWaSettings"))).status_code == 200


@pytest.mark.parametrize("kind", ["html", "truncated", "empty"])
async def test_malformed_answers(api: Api, kind: str) -> None:
    api.sim.malformed_next(ID, kind=kind)
    answer = await api.send()
    assert answer.status_code == 200
    with pytest.raises(ValueError):
        json.loads(answer.content)
    assert (await api.send()).status_code == 200  # only the next one


async def test_html_error_page(api: Api) -> None:
    api.sim.malformed_next(ID, kind="html", status=502)
    answer = await api.send()
    assert answer.status_code == 502
    assert answer.headers["content-type"].startswith("text/html")


# ------------------------------------------------------------------------------ webhooks


async def test_webhook_delivery_with_bearer_token(api: Api, receiver: Receiver) -> None:
    await api.http.post(
        api.path("setSettings"), json={"webhookUrl": receiver.url, "webhookUrlToken": "s3cret"}
    )
    id_message = api.sim.user_says(ID, CUSTOMER, "2274209 refill")
    await receiver.wait_for(1)
    headers, body = receiver.hits[0]
    assert headers["authorization"] == "Bearer s3cret"
    assert headers["content-type"] == "application/json"
    assert body["idMessage"] == id_message
    await api.sim.wait_until(ID, lambda: api.sim.pending(ID) == [])


async def test_webhook_without_token_has_no_authorization(api: Api, receiver: Receiver) -> None:
    await api.http.post(api.path("setSettings"), json={"webhookUrl": receiver.url})
    api.sim.user_says(ID, CUSTOMER, "hi")
    await receiver.wait_for(1)
    assert "authorization" not in receiver.hits[0][0]


async def test_webhook_retries_until_2xx_keeping_order(api: Api, receiver: Receiver) -> None:
    receiver.plan = [500, 503]
    await api.http.post(api.path("setSettings"), json={"webhookUrl": receiver.url})
    first = api.sim.user_says(ID, CUSTOMER, "one")
    second = api.sim.user_says(ID, CUSTOMER, "two")
    await receiver.wait_for(4)
    ids = [body["idMessage"] for body in receiver.bodies]
    assert ids == [first, first, first, second]
    await api.sim.wait_until(ID, lambda: len(api.sim.webhook_attempts(ID)) == 4)
    attempts = api.sim.webhook_attempts(ID)
    assert [a.status_code for a in attempts] == [500, 503, 200, 200]


async def test_webhook_to_a_dead_endpoint_is_retried_until_fixed(
    api: Api, receiver: Receiver
) -> None:
    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{sock.getsockname()[1]}/hook"
    await api.http.post(api.path("setSettings"), json={"webhookUrl": dead_url})
    api.sim.user_says(ID, CUSTOMER, "are you there?")

    await api.sim.wait_until(ID, lambda: bool(api.sim.webhook_attempts(ID)))
    assert api.sim.webhook_attempts(ID)[0].status_code is None
    assert api.sim.webhook_attempts(ID)[0].error
    await api.http.post(api.path("setSettings"), json={"webhookUrl": receiver.url})
    await receiver.wait_for(1)
    assert receiver.bodies[0]["messageData"]["textMessageData"]["textMessage"] == "are you there?"


async def test_with_a_webhook_url_the_poll_gets_nothing(api: Api, receiver: Receiver) -> None:
    receiver.plan = [500] * 1000  # keep the notification undelivered
    await api.http.post(api.path("setSettings"), json={"webhookUrl": receiver.url})
    api.sim.user_says(ID, CUSTOMER, "hi")
    assert await api.receive() is None


# ------------------------------------------------------------------------------ control API


async def test_control_api(api: Api) -> None:
    ctl = f"{api.url}/_sim/instances"
    added = await api.http.post(ctl, json={"idInstance": "7103000001", "apiTokenInstance": "t2"})
    assert added.json() == {"ok": True}
    said = await api.http.post(
        f"{ctl}/7103000001/user_says", json={"chatId": CUSTOMER, "text": "2274209 speed"}
    )
    id_message = said.json()["idMessage"]
    other = f"{api.url}/waInstance7103000001"
    polled = (await api.http.get(f"{other}/receiveNotification/t2")).json()
    assert polled["body"]["idMessage"] == id_message

    await api.http.post(f"{ctl}/7103000001/fail_next", json={"status": 500})
    failed = await api.http.post(
        f"{other}/sendMessage/t2", json={"chatId": CUSTOMER, "message": "x"}
    )
    assert failed.status_code == 500
    await api.http.post(f"{ctl}/7103000001/state", json={"stateInstance": "blocked"})
    assert api.sim.state("7103000001") == "blocked"
    await api.http.post(f"{ctl}/7103000001/state", json={"stateInstance": "authorized"})
    ok = await api.http.post(f"{other}/sendMessage/t2", json={"chatId": CUSTOMER, "message": "y"})
    assert ok.status_code == 200

    sent = (await api.http.get(f"{ctl}/7103000001/sent")).json()
    assert [s["message"] for s in sent] == ["y"]
    stats = (await api.http.get(f"{ctl}/7103000001/stats")).json()
    assert stats["calls"]["sendmessage"] == 2
    assert stats["stateInstance"] == "authorized"

    assert (await api.http.post(f"{ctl}/nope/delay", json={"seconds": 1})).status_code == 404
    bad = await api.http.post(f"{ctl}/7103000001/state", json={"stateInstance": "asleep"})
    assert bad.status_code == 400
    unknown = await api.http.post(f"{ctl}/7103000001/explode", json={})
    assert unknown.status_code == 400


async def test_control_api_faults_and_statuses(api: Api) -> None:
    ctl = f"{api.url}/_sim/instances/{ID}"
    await api.http.post(f"{ctl}/rate_limit", json={"perSecond": 1})
    await api.http.post(f"{ctl}/status_order", json={"order": ["delivered"]})
    codes = [(await api.send()).status_code for _ in range(2)]
    assert codes == [200, 429]
    bodies = await api.drain()
    assert [b.get("status") for b in bodies] == [None, "delivered"]
    await api.http.post(f"{ctl}/malformed_next", json={"kind": "truncated"})
    assert (await api.send()).status_code in (200, 429)
    await api.http.post(f"{ctl}/notify", json={"body": {"typeWebhook": "deviceInfo"}})
    await api.http.post(
        f"{ctl}/status", json={"idMessage": "BAE5X", "status": "failed", "chatId": CUSTOMER}
    )
    kinds = [b["typeWebhook"] for b in await api.drain()]
    assert "deviceInfo" in kinds and "outgoingMessageStatus" in kinds


# ------------------------------------------------------------------------------ standalone


def test_runs_standalone() -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "panelpilot.sim.greenapi",
            "--port",
            "0",
            "--instance",
            f"{ID}:{TOKEN}",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        url = line.strip().rsplit(" ", 1)[-1]
        assert url.startswith("http://127.0.0.1:")
        answer = httpx.get(f"{url}/waInstance{ID}/getStateInstance/{TOKEN}", timeout=5)
        assert answer.json() == {"stateInstance": "authorized"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.returncode == 0

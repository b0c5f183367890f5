"""The delivery log: outbound messages with filters, paging, the failed list, a detail view with
every attempt, and Retry, also end to end over the Telegram simulator."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from panelpilot.console.listing import PAGE_SIZE
from panelpilot.context import Context
from panelpilot.outbox.models import OutboundMessage
from panelpilot.settings import Settings
from panelpilot.tenancy import service as tenancy
from tests.console.conftest import ClientFactory
from tests.console.helpers import AGENT, OUTSIDER, OWNER, PASSWORD, flashes, login, post
from tests.console.logdata import BOT_TOKEN, add_channel, add_event, add_outbound
from tests.e2e.harness import TG_TOKEN, Stack, build_stack, eventually
from tests.support import Tenants

TEXTS = ("✅ 2274209: refill request sent.", "EXT-99812 refill", "Broadcast: new services",
         "❌ 777: order not found.")


async def _seed(ctx: Context, workspace_id: int) -> dict[str, int]:
    tg = await add_channel(ctx, workspace_id)
    tg2 = await add_channel(ctx, workspace_id, key="tg2", token="7000002:other")
    return {
        "reply": await add_outbound(ctx, workspace_id, tg, chat_id="5512345", text=TEXTS[0],
                                    attempts=((True, "", ""),)),
        "dispatch": await add_outbound(ctx, workspace_id, tg, chat_id="-1001234",
                                       text=TEXTS[1], purpose="dispatch", status="failed",
                                       reason="blocked", error="Forbidden: bot was kicked",
                                       attempts=((False, "server_error", "500 oops"),
                                                 (False, "blocked", "Forbidden: bot was kicked"))),
        "broadcast": await add_outbound(ctx, workspace_id, tg2, chat_id="777", text=TEXTS[2],
                                        purpose="broadcast", status="queued"),
        "reply2": await add_outbound(ctx, workspace_id, tg2, chat_id="777", text=TEXTS[3],
                                     status="failed", reason="chat_not_found",
                                     error="Bad Request: chat not found",
                                     attempts=((False, "chat_not_found", "chat not found"),)),
    }


async def _status(ctx: Context, workspace_id: int, message_id: int) -> tuple[str, int]:
    async with ctx.db.session(workspace_id) as s:
        row = (await s.execute(select(OutboundMessage).where(OutboundMessage.id == message_id))
               ).scalar_one()
        return row.status, row.attempts


async def test_empty_states_say_what_to_do(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    r = await owner.get("/w/acme/outbox")
    assert "Nothing sent yet" in r.text and 'href="/w/acme/channels"' in r.text
    await add_channel(ctx, tenants.acme_id)
    r = await owner.get("/w/acme/outbox?status=failed")
    assert "The failed list is empty" in r.text and "See all messages" in r.text


async def test_log_shows_messages_and_points_to_the_failed_list(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    ids = await _seed(ctx, tenants.acme_id)
    r = await (await clients(OWNER)).get("/w/acme/outbox")
    assert r.status_code == 200
    positions = [r.text.index(html.escape(t)) for t in reversed(TEXTS)]
    assert positions == sorted(positions)  # newest first
    assert "2 messages failed for good" in r.text
    assert 'href="/w/acme/outbox?status=failed"' in r.text
    assert r.text.count('>Retry</button>') == 2  # on the failed rows only
    assert f'action="/w/acme/outbox/{ids["dispatch"]}/retry"' in r.text
    agent = await (await clients(AGENT)).get("/w/acme/outbox")
    assert "Retry" not in agent.text and html.escape(TEXTS[1]) in agent.text


async def test_filters_run_on_the_server(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    await _seed(ctx, tenants.acme_id)
    owner = await clients(OWNER)

    async def shown(params: dict[str, str]) -> set[str]:
        r = await owner.get("/w/acme/outbox", params=params)
        assert r.status_code == 200, params
        return {t for t in TEXTS if html.escape(t) in r.text}

    assert await shown({"status": "failed"}) == {TEXTS[1], TEXTS[3]}
    assert await shown({"status": "queued"}) == {TEXTS[2]}
    assert await shown({"chat_id": "777"}) == {TEXTS[2], TEXTS[3]}
    assert await shown({"purpose": "dispatch"}) == {TEXTS[1]}
    assert await shown({"channel": "tg2", "status": "failed"}) == {TEXTS[3]}
    assert await shown({"q": "refill"}) == {TEXTS[0], TEXTS[1]}
    none = await owner.get("/w/acme/outbox", params={"chat_id": "nobody"})
    assert "No message matches these filters" in none.text


async def test_paging_goes_to_older_messages(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    tg = await add_channel(ctx, tenants.acme_id)
    for n in range(PAGE_SIZE + 2):
        await add_outbound(ctx, tenants.acme_id, tg, chat_id="42", text=f"answer {n:03}",
                           status="failed", reason="blocked")
    owner = await clients(OWNER)
    first = await owner.get("/w/acme/outbox", params={"status": "failed"})
    assert f"answer {PAGE_SIZE + 1:03}" in first.text and "answer 001" not in first.text
    older = html.unescape(first.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0])
    assert "status=failed" in older
    second = await owner.get(older)
    assert "answer 000" in second.text and "answer 001" in second.text
    assert f"answer {PAGE_SIZE + 1:03}" not in second.text


async def test_detail_shows_every_attempt(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    ids = await _seed(ctx, tenants.acme_id)
    tg = await add_channel(ctx, tenants.acme_id, key="tg3", token="7000003:x")
    event = await add_event(ctx, tenants.acme_id, tg, chat_id="5512345", text="2274209 refill")
    reply = await add_outbound(ctx, tenants.acme_id, tg, chat_id="5512345", text="ok",
                               source_event_id=event)
    owner = await clients(OWNER)
    r = await owner.get(f"/w/acme/outbox/{ids['dispatch']}")
    assert r.status_code == 200
    for text in ("Dispatch to a provider", "-1001234", "500 oops", "Forbidden: bot was kicked",
                 "server error", "The person blocked the bot", "2 of at most 8", ">Retry<"):
        assert text in r.text, text
    assert BOT_TOKEN not in r.text
    linked = await owner.get(f"/w/acme/outbox/{reply}")
    assert f'href="/w/acme/messages/{event}"' in linked.text and "2274209 refill" in linked.text
    assert ">Retry<" not in linked.text  # sent: nothing to retry
    assert (await owner.get("/w/acme/outbox/999999")).status_code == 404
    assert (await (await clients(OUTSIDER)).get(f"/w/other/outbox/{ids['reply']}")
            ).status_code == 404


async def test_retry_puts_a_failed_message_back_in_the_queue(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    ids = await _seed(ctx, tenants.acme_id)
    agent = await clients(AGENT)
    assert (await post(agent, f"/w/acme/outbox/{ids['dispatch']}/retry")).status_code == 403
    assert await _status(ctx, tenants.acme_id, ids["dispatch"]) == ("failed", 2)

    owner = await clients(OWNER)
    r = await post(owner, f"/w/acme/outbox/{ids['dispatch']}/retry",
                   {"back": "/w/acme/outbox?status=failed"})
    assert r.status_code == 303 and r.headers["location"] == "/w/acme/outbox?status=failed"
    page = await owner.get(r.headers["location"])
    assert ("success", f"Message #{ids['dispatch']} is back in the queue: the senders try it "
                       "again now.") in flashes(page.text)
    assert html.escape(TEXTS[1]) not in page.text  # off the failed list
    assert await _status(ctx, tenants.acme_id, ids["dispatch"]) == ("queued", 0)

    r = await post(owner, f"/w/acme/outbox/{ids['reply']}/retry", follow=True)
    assert ("info", f"Message #{ids['reply']} is sent: only failed messages can be retried.") \
        in flashes(r.text)
    assert (await post(owner, "/w/acme/outbox/999999/retry")).status_code == 404


# --- end to end: a real customer message, a failed answer, Retry in the console -------------

@pytest.fixture
async def stack(settings: Settings) -> AsyncIterator[Stack]:
    async for s in build_stack(settings):
        yield s


async def _console(stack: Stack) -> httpx.AsyncClient:
    async with stack.ctx.db.session(stack.workspace_id) as s:
        await tenancy.add_member(s, stack.workspace_id, email=OWNER, role="owner",
                                 password=PASSWORD)
    client = httpx.AsyncClient(base_url=stack.url, timeout=10)
    await login(client, OWNER)
    return client


async def test_a_failed_answer_is_retried_from_the_console_and_arrives(stack: Stack) -> None:
    user = 555000222
    await stack.telegram("webhook")
    console = await _console(stack)
    try:
        # The owner's own wording reaches the customer.
        r = await post(console, "/w/acme/templates/help", {"text": "Write: <order id> refill"})
        assert r.status_code == 303
        stack.tg.fail_next(TG_TOKEN, status=400, method="sendMessage")
        stack.tg.user_says(TG_TOKEN, user, "help")

        async def failed() -> str:
            r = await console.get("/w/acme/outbox", params={"status": "failed"})
            return r.text if "Write: &lt;order id&gt; refill" in r.text else ""

        listing = await eventually(failed)
        message_id = int(listing.split('action="/w/acme/outbox/')[1].split("/")[0])
        detail = await console.get(f"/w/acme/outbox/{message_id}")
        assert "bad request" in detail.text and "/w/acme/messages/" in detail.text
        log = await console.get("/w/acme/messages", params={"chat_id": str(user)})
        assert ">help<" in log.text.replace("\n", "")
        assert stack.tg.sent(TG_TOKEN, user) == []

        r = await post(console, f"/w/acme/outbox/{message_id}/retry")
        assert r.status_code == 303
        sent = await eventually(lambda: stack.tg.sent(TG_TOKEN, user))
        assert [m["text"] for m in sent] == ["Write: <order id> refill"]

        async def delivered() -> str:
            r = await console.get(f"/w/acme/outbox/{message_id}")
            return r.text if "badge-sent" in r.text else ""

        detail = await eventually(delivered)
        assert detail.count("badge-failed") == 1 and "accepted" in detail
    finally:
        await console.aclose()

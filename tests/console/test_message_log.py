"""The message log: inbound events with server-side filters, paging and a detail view with the
normalized fields and the raw payload; secrets never appear."""

from __future__ import annotations

import html
from datetime import timedelta

from panelpilot.console.listing import PAGE_SIZE
from panelpilot.context import Context
from panelpilot.db.base import utcnow
from tests.console.conftest import ClientFactory
from tests.console.helpers import AGENT, OUTSIDER, OWNER, field_errors
from tests.console.logdata import (
    BOT_TOKEN,
    add_channel,
    add_event,
    add_outbound,
    telegram_update,
)
from tests.support import Tenants

TEXTS = ("2274209 refill", "hello there", "2274300 speed", "status 2274209")


async def _seed(ctx: Context, workspace_id: int) -> dict[str, int]:
    tg = await add_channel(ctx, workspace_id)
    tg2 = await add_channel(ctx, workspace_id, key="tg2", token="7000002:other")
    now = utcnow()
    ids = {
        "refill": await add_event(ctx, workspace_id, tg, chat_id="5512345", text=TEXTS[0],
                                  outcome="refill 1 order", received_at=now - timedelta(days=2)),
        "hello": await add_event(ctx, workspace_id, tg, chat_id="5512345", text=TEXTS[1],
                                 outcome="silent", received_at=now - timedelta(hours=5)),
        "speed": await add_event(ctx, workspace_id, tg2, chat_id="777", text=TEXTS[2],
                                 status="failed", outcome="gave up", error="ValueError: boom",
                                 received_at=now - timedelta(hours=1)),
        "status": await add_event(ctx, workspace_id, tg, chat_id="888", text=TEXTS[3],
                                  status="new", received_at=now),
    }
    return ids


async def test_empty_state_says_what_to_do(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    owner = await clients(OWNER)
    r = await owner.get("/w/acme/messages")
    assert "No message yet" in r.text and 'href="/w/acme/channels"' in r.text
    await add_channel(ctx, tenants.acme_id)
    assert "Send your bot “help”" in (await owner.get("/w/acme/messages")).text


async def test_log_lists_events_newest_first(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    await _seed(ctx, tenants.acme_id)
    r = await (await clients(AGENT)).get("/w/acme/messages")
    assert r.status_code == 200
    positions = [r.text.index(t) for t in reversed(TEXTS)]
    assert positions == sorted(positions)
    for text in ("refill 1 order", "ValueError: boom", "Waiting", "Failed"):
        assert text in r.text


async def test_filters_run_on_the_server(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    await _seed(ctx, tenants.acme_id)
    owner = await clients(OWNER)
    now = utcnow()

    async def shown(params: dict[str, str]) -> set[str]:
        r = await owner.get("/w/acme/messages", params=params)
        assert r.status_code == 200, params
        return {t for t in TEXTS if t in r.text}

    assert await shown({"chat_id": "5512345"}) == {TEXTS[0], TEXTS[1]}
    assert await shown({"status": "failed"}) == {TEXTS[2]}
    assert await shown({"q": "2274209"}) == {TEXTS[0], TEXTS[3]}
    assert await shown({"q": "REFILL"}) == {TEXTS[0]}  # case does not matter
    assert await shown({"outcome": "silent"}) == {TEXTS[1]}
    assert await shown({"channel": "tg2"}) == {TEXTS[2]}
    since = (now - timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M")
    until = (now - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M")
    assert await shown({"since": since}) == {TEXTS[1], TEXTS[2], TEXTS[3]}
    assert await shown({"since": since, "until": until}) == {TEXTS[1], TEXTS[2]}
    assert await shown({"until": (now - timedelta(days=1)).strftime("%Y-%m-%d")}) == {TEXTS[0]}
    assert await shown({"q": "refill", "chat_id": "888"}) == set()

    bad = await owner.get("/w/acme/messages", params={"since": "yesterday", "status": "odd"})
    assert field_errors(bad.text) == {
        "since": "Use a date and time like 2025-01-31 14:05 (UTC).",
        "status": "Choose a status from the list."}
    assert {t for t in TEXTS if t in bad.text} == set(TEXTS)  # a bad filter filters nothing
    backwards = await owner.get("/w/acme/messages", params={"since": since, "until": since})
    assert field_errors(backwards.text) == {"until": "Pick a moment after “From”."}
    empty = await owner.get("/w/acme/messages", params={"q": "nothing like this"})
    assert "No message matches these filters" in empty.text


async def test_paging_keeps_the_filters(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    tg = await add_channel(ctx, tenants.acme_id)
    for n in range(PAGE_SIZE + 5):
        await add_event(ctx, tenants.acme_id, tg, chat_id="42", text=f"message {n:03}",
                        key=f"k{n}")
    await add_event(ctx, tenants.acme_id, tg, chat_id="43", text="message from 43", key="x")
    owner = await clients(OWNER)
    first = await owner.get("/w/acme/messages", params={"chat_id": "42"})
    assert f"message {PAGE_SIZE + 4:03}" in first.text and "message 004" not in first.text
    assert "message from 43" not in first.text
    older = html.unescape(first.text.split('rel="next"')[0].rsplit('href="', 1)[1].split('"')[0])
    assert "chat_id=42" in older and "before=" in older
    second = await owner.get(older)
    assert "message 000" in second.text and "message 004" in second.text
    assert f"message {PAGE_SIZE + 4:03}" not in second.text and 'rel="next"' not in second.text


async def test_detail_shows_fields_payload_and_replies_never_secrets(
    ctx: Context, clients: ClientFactory, tenants: Tenants
) -> None:
    tg = await add_channel(ctx, tenants.acme_id)
    payload = telegram_update(81, "5512345", "2274209 refill <b>now</b>")
    payload["api_token"] = "leaked-by-a-platform"  # never sent today; masked if it ever is
    event_id = await add_event(ctx, tenants.acme_id, tg, chat_id="5512345",
                               text="2274209 refill <b>now</b>", outcome="refill 1 order",
                               payload=payload, key="tg:81")
    reply = await add_outbound(ctx, tenants.acme_id, tg, chat_id="5512345",
                               text="✅ 2274209: refill request sent.", source_event_id=event_id)
    for email in (OWNER, AGENT):
        r = await (await clients(email)).get(f"/w/acme/messages/{event_id}")
        assert r.status_code == 200
        for text in ("tg:81", "refill 1 order", "5512345", "&#34;update_id&#34;: 81",
                     "2274209 refill &lt;b&gt;now&lt;/b&gt;", f'href="/w/acme/outbox/{reply}"',
                     "✅ 2274209: refill request sent."):
            assert text in r.text, text
        assert "<b>now</b>" not in r.text
        assert "leaked-by-a-platform" not in r.text and "••••••" in r.text
        assert BOT_TOKEN not in r.text
    owner = await clients(OWNER)
    assert (await owner.get("/w/acme/messages/999999")).status_code == 404
    assert (await (await clients(OUTSIDER)).get(f"/w/other/messages/{event_id}")
            ).status_code == 404

"""The command log page: every filter, paging, the detail view with everything a command led to,
empty states, and the JSON API filters it shares with the page (``orders.logs``)."""

from __future__ import annotations

import re
from typing import Any

import httpx

from panelpilot.context import Context
from tests.console.conftest import ClientFactory
from tests.console.helpers import AGENT, OUTSIDER, OWNER, field_errors
from tests.console.logdata import add_channel, add_chat, add_event, add_outbound
from tests.console.orderlogdata import add_call, add_command, add_dispatch, add_ticket, ago
from tests.support import Tenants

URL = "/w/acme/commands"
API = "/api/v1/workspaces/acme/orders"


def shown(page: str) -> list[int]:
    """The command ids listed on a page, in order."""
    return [int(i) for i in re.findall(r'aria-label="Command (\d+)"', page)]


async def _seed(ctx: Context, ws: int) -> dict[str, Any]:
    tg = await add_channel(ctx, ws, key="support-bot")
    await add_chat(ctx, ws, tg, "5512345", title="Jane Buyer", role="customer")
    ids: dict[str, Any] = {"tg": tg}
    ids["refill"] = await add_command(ctx, ws, channel_id=tg, created_at=ago(hours=5),
                                      latency_ms=230)
    ids["bulk"] = await add_command(
        ctx, ws, channel_id=tg, text="2274300, 2274301 speed", action="speed",
        outcome="mixed", orders=(("2274300", "sent"), ("2274301", "too_early")),
        created_at=ago(hours=4))
    ids["cooldown"] = await add_command(
        ctx, ws, channel_id=tg, chat_id="7788990", username="max_b", text="2274209 refill",
        outcome="cooldown", orders=(("2274209", "cooldown"),), created_at=ago(hours=3))
    ids["typo"] = await add_command(
        ctx, ws, channel_id=tg, text="stat 2274209", kind="unrecognized", action=None,
        outcome="unrecognized", orders=(), error_type="typo", suggestion="status", reply="",
        created_at=ago(hours=2))
    ids["support"] = await add_command(
        ctx, ws, channel_id=tg, chat_id="-100900", username=None, source="support",
        text="5163781 cancel", action="cancel", outcome="not_eligible",
        orders=(("5163781", "not_eligible"),), created_at=ago(hours=1))
    ids["ticket"] = await add_command(
        ctx, ws, chat_id=None, source="ticket", text="Request: Refill\n2274555",
        ticket_id="501", orders=(("2274555", "sent"),), created_at=ago(minutes=30))
    ids["api_problem"] = await add_command(
        ctx, ws, channel_id=tg, text="2274999 refill", outcome="api_problem", orders=(),
        reply="Sorry, we cannot check orders right now.", created_at=ago(minutes=10),
        detail="server_error: the panel had a server error (HTTP 500).")
    return ids


async def test_empty_log_says_what_to_do(ctx: Context, clients: ClientFactory,
                                         tenants: Tenants) -> None:
    owner = await clients(OWNER)
    page = (await owner.get(URL)).text
    assert "No command yet" in page and "2274209 refill" in page
    assert 'href="/w/acme/messages"' in page


async def test_every_filter(ctx: Context, clients: ClientFactory, tenants: Tenants) -> None:
    ids = await _seed(ctx, tenants.acme_id)
    agent = await clients(AGENT)

    async def listed(**params: str) -> list[int]:
        r = await agent.get(URL, params=params)
        assert r.status_code == 200, r.text
        assert field_errors(r.text) == {}, field_errors(r.text)
        return shown(r.text)

    newest_first = [ids[k] for k in ("api_problem", "ticket", "support", "typo", "cooldown",
                                     "bulk", "refill")]
    assert await listed() == newest_first
    # order id: its verdicts, and commands that ended before any verdict (the panel was down,
    # the text was not understood) but named it
    assert await listed(order_id="2274209") == [ids["typo"], ids["cooldown"], ids["refill"]]
    assert await listed(order_id="2274999") == [ids["api_problem"]]
    assert await listed(order_id="2274301") == [ids["bulk"]]
    # verdicts: one, and the allowed / refused groups
    assert await listed(verdict="too_early") == [ids["bulk"]]
    assert await listed(verdict="refused") == [ids["support"], ids["cooldown"], ids["bulk"]]
    assert await listed(verdict="allowed") == [ids["ticket"], ids["bulk"], ids["refill"]]
    assert await listed(order_id="2274209", verdict="refused") == [ids["cooldown"]]
    assert await listed(chat_id="7788990") == [ids["cooldown"]]
    assert await listed(username="MAX_B") == [ids["cooldown"]]
    assert await listed(action="speed") == [ids["bulk"]]
    assert await listed(source="support") == [ids["support"]]
    assert await listed(source="ticket") == [ids["ticket"]]
    assert await listed(error_type="typo") == [ids["typo"]]
    assert await listed(error_type="any") == [ids["typo"]]
    # time range (UTC, as a datetime-local field sends it)
    since = ago(hours=3, minutes=30).strftime("%Y-%m-%dT%H:%M")
    until = ago(minutes=45).strftime("%Y-%m-%dT%H:%M")
    assert await listed(since=since, until=until) == [ids["support"], ids["typo"],
                                                      ids["cooldown"]]
    assert await listed(since=since, until=until, source="chat") == [ids["typo"],
                                                                     ids["cooldown"]]
    # nothing matches: the page says so and offers to clear
    r = await agent.get(URL, params={"order_id": "1111111"})
    assert shown(r.text) == [] and "No command matches these filters" in r.text
    assert 'href="/w/acme/commands">Clear' in r.text


async def test_bad_filters_are_explained_beside_their_fields(
        ctx: Context, clients: ClientFactory, tenants: Tenants) -> None:
    await _seed(ctx, tenants.acme_id)
    owner = await clients(OWNER)
    r = await owner.get(URL, params={"since": "yesterday", "verdict": "maybe",
                                     "order_id": "2274209"})
    assert r.status_code == 200
    errors = field_errors(r.text)
    assert errors["since"].startswith("Use a date and time like")
    assert errors["verdict"] == "Choose a verdict from the list."
    assert 'value="yesterday"' in r.text  # what was typed stays in its field
    assert len(shown(r.text)) == 3  # the filters that could be read still apply
    r = await owner.get(URL, params={"since": "2025-02-01T10:00", "until": "2025-01-01"})
    assert field_errors(r.text) == {"until": "Pick a moment after “From”."}


async def test_paging_keeps_the_filters(ctx: Context, clients: ClientFactory,
                                        tenants: Tenants) -> None:
    ws = tenants.acme_id
    made = [await add_command(ctx, ws, text=f"{2274300 + n} refill",
                              orders=((str(2274300 + n), "sent"),), created_at=ago(minutes=n))
            for n in range(53)]
    await add_command(ctx, ws, text="other source", source="support", orders=())
    owner = await clients(OWNER)
    first = await owner.get(URL, params={"source": "chat"})
    assert shown(first.text) == sorted(made, reverse=True)[:50]
    older = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert older is not None
    link = older.group(1).replace("&amp;", "&")
    assert "source=chat" in link and "before=" in link
    second = await owner.get(link)
    assert shown(second.text) == sorted(made, reverse=True)[50:]
    assert 'rel="next"' not in second.text and "← Newest" in second.text


async def test_detail_shows_the_whole_story(ctx: Context, clients: ClientFactory,
                                            tenants: Tenants) -> None:
    ws = tenants.acme_id
    tg = await add_channel(ctx, ws, key="support-bot")
    await add_chat(ctx, ws, tg, "5512345", title="Jane Buyer", role="customer")
    event = await add_event(ctx, ws, tg, chat_id="5512345", text="2274209, 2274210 refill")
    cmd = await add_command(ctx, ws, channel_id=tg, text="2274209, 2274210 refill",
                            event_id=event, outcome="mixed",
                            orders=(("2274209", "sent"), ("2274210", "not_yours")),
                            reply="✅ 2274209: refill request sent.\n❌ 2274210: not yours.")
    answer = await add_outbound(ctx, ws, tg, chat_id="5512345", text="✅ 2274209 …",
                                source_event_id=event)
    sent = await add_outbound(ctx, ws, tg, chat_id="-1001987654321", text="EXT-2274209 refill",
                              purpose="dispatch", status="failed", reason="chat_not_found")
    dispatch = await add_dispatch(ctx, ws, channel_id=tg, command_id=cmd, message_id=sent)
    call = await add_call(ctx, ws, command_id=cmd, detail="2 id(s): 2274209, 2274210")
    agent = await clients(AGENT)
    page = (await agent.get(f"{URL}/{cmd}")).text
    assert f"Command #{cmd}" in page
    assert "2274209, 2274210 refill" in page and "Jane Buyer" in page
    # each order: verdict, what the customer read, the panel status, the provider
    assert "Sent to the provider" in page and "Not the customer&#39;s order" in page
    assert "not_yours reason" in page and "completed" in page and "EXT-2274210" in page
    # the answer, with its message in the delivery log; the dispatch with its delivery
    assert "✅ 2274209: refill request sent." in page
    assert f'href="/w/acme/outbox/{answer}"' in page
    assert f'href="/w/acme/outbox/{sent}"' not in page.split("The answer")[1].split(
        "Sent to providers")[0]
    assert f'href="/w/acme/dispatches/{dispatch}"' in page and "EXT-2274209 refill" in page
    assert f'href="/w/acme/outbox/{sent}"' in page and "chat not found" in page
    # where it came from, and the panel calls it made
    assert f'href="/w/acme/messages/{event}"' in page
    assert f'href="/w/acme/panel-calls/{call}"' in page
    assert re.findall(r'<form method="post" action="([^"]+)"', page) == ["/logout"]


async def test_detail_of_a_ticket_and_of_a_panel_problem(
        ctx: Context, clients: ClientFactory, tenants: Tenants) -> None:
    ws = tenants.acme_id
    cmd = await add_command(ctx, ws, chat_id=None, source="ticket", ticket_id="501",
                            text="Request: Refill\n2274209")
    entry = await add_ticket(ctx, ws, ticket_id="501", command_id=cmd)
    down = await add_command(ctx, ws, text="2274999 refill", outcome="api_problem", orders=(),
                             detail="server_error: HTTP 500 from https://p.test?key=abcd1234")
    owner = await clients(OWNER)
    page = (await owner.get(f"{URL}/{cmd}")).text
    assert f'href="/w/acme/panel-tickets/{entry}"' in page and "Panel ticket" in page
    page = (await owner.get(f"{URL}/{down}")).text
    assert "The panel could not be asked." in page and "abcd1234" not in page
    assert "key=***" in page


async def test_unknown_and_foreign_commands_are_not_found(
        ctx: Context, clients: ClientFactory, tenants: Tenants) -> None:
    theirs = await add_command(ctx, tenants.other_id, text="other's secret order")
    mine = await add_command(ctx, tenants.acme_id)
    owner = await clients(OWNER)
    for path in (f"{URL}/{theirs}", f"{URL}/999999", f"{URL}/abc"):
        r = await owner.get(path)
        assert r.status_code == 404 and "Page not found" in r.text
    assert theirs not in shown((await owner.get(URL)).text)
    outsider = await clients(OUTSIDER)
    assert (await outsider.get(f"{URL}/{mine}")).status_code == 404
    assert (await outsider.get(f"/w/other/commands/{mine}")).status_code == 404


async def test_api_has_the_same_filters(ctx: Context, client: httpx.AsyncClient,
                                        tenants: Tenants) -> None:
    ids = await _seed(ctx, tenants.acme_id)
    auth = Tenants.auth(tenants.agent)

    async def listed(**params: Any) -> list[int]:
        r = await client.get(f"{API}/commands", params=params, headers=auth)
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()]

    assert await listed(order_id="2274999") == [ids["api_problem"]]
    assert await listed(verdict="refused") == [ids["support"], ids["cooldown"], ids["bulk"]]
    assert await listed(verdict="allowed", source="chat") == [ids["bulk"], ids["refill"]]
    assert await listed(error_type="any") == [ids["typo"]]
    assert await listed(error_type="typo", chat_id="5512345") == [ids["typo"]]
    assert await listed(limit=2) == [ids["api_problem"], ids["ticket"]]
    assert await listed(limit=2, before=ids["ticket"]) == [ids["support"], ids["typo"]]


async def test_api_detail_names_what_the_command_led_to(
        ctx: Context, client: httpx.AsyncClient, tenants: Tenants) -> None:
    ws = tenants.acme_id
    tg = await add_channel(ctx, ws)
    event = await add_event(ctx, ws, tg, chat_id="5512345", text="2274209 refill")
    cmd = await add_command(ctx, ws, channel_id=tg, event_id=event)
    answer = await add_outbound(ctx, ws, tg, chat_id="5512345", text="✅", source_event_id=event)
    sent = await add_outbound(ctx, ws, tg, chat_id="-100", text="EXT refill", purpose="dispatch")
    dispatch = await add_dispatch(ctx, ws, channel_id=tg, command_id=cmd, message_id=sent)
    call = await add_call(ctx, ws, command_id=cmd)
    r = await client.get(f"{API}/commands/{cmd}", headers=Tenants.auth(tenants.agent))
    body = r.json()
    assert (body["reply_message_ids"], body["dispatch_ids"], body["panel_call_ids"]) == (
        [answer], [dispatch], [call])
    assert body["orders"][0]["verdict"] == "sent" and body["panel_ticket_log_id"] is None

"""The order-log pages over the real pipeline: customers' messages through the spine, the panel
and ticket simulators on loopback, then the logs an owner reads. Proves that neither the pages
nor the JSON API ever contain the panel's stored API keys, on both panel types."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from panelpilot.context import Context
from panelpilot.orders.tickets import process_tickets
from tests.console.conftest import ClientFactory
from tests.console.helpers import OWNER, flashes, post
from tests.orders.helpers import JANE, JOHN, Shop, make_shop
from tests.support import Tenants

API = "/api/v1/workspaces/acme/orders"


@pytest.fixture
async def live(ctx: Context, tenants: Tenants) -> AsyncIterator[Shop]:
    async for s in make_shop(ctx, extra_rules="  tickets: {enabled: true}\n"):
        yield s


async def test_a_refill_shows_up_in_every_log(live: Shop, clients: ClientFactory) -> None:
    said = await live.say(JOHN, "2274209 refill")
    assert said.replies == ["✅ 2274209: refill request sent."]
    again = await live.say(JOHN, "2274209 refill")
    assert "already requested" in again.text
    await live.say(JANE, "5163781 5163782 refill")
    owner = await clients(OWNER)

    # the command log finds both of john's commands by the order id
    page = (await owner.get("/w/acme/commands", params={"order_id": "2274209"})).text
    listed = [int(i) for i in re.findall(r'aria-label="Command (\d+)"', page)]
    assert len(listed) == 2 and "Cooling down" in page and "john_doe" in page
    detail = (await owner.get(f"/w/acme/commands/{listed[-1]}")).text
    assert "Sent to the provider" in detail and "completed" in detail
    assert "EXT-99812 refill" in detail and "smmprovider.com" in detail
    assert re.search(r'href="/w/acme/messages/\d+">event #', detail)
    assert re.search(r'href="/w/acme/outbox/\d+">Message #', detail)
    assert re.search(r'href="/w/acme/panel-calls/\d+"', detail)

    # the dispatch log: one message per provider, both orders of jane's in one
    page = (await owner.get("/w/acme/dispatches")).text
    assert "5163781, 5163782 refill please" in page and "EXT-99812 refill" in page
    assert "queued" in page

    # the cooldown, with its hit; the owner clears it and john may ask again
    page = (await owner.get("/w/acme/cooldowns", params={"order_id": "2274209"})).text
    cooldown = re.search(r'action="/w/acme/cooldowns/(\d+)/clear"', page)
    assert cooldown is not None and '<td data-label="Hits" class="num">1</td>' in page
    r = await post(owner, f"/w/acme/cooldowns/{cooldown.group(1)}/clear", follow=True)
    assert flashes(r.text)[0][0] == "success"
    assert (await live.say(JOHN, "2274209 refill")).replies == [
        "✅ 2274209: refill request sent."]


async def test_tickets_and_panel_trouble(live: Shop, clients: ClientFactory) -> None:
    await process_tickets(live.ctx, live.workspace_id)
    live.panel.fail_next(500)
    await live.say(JOHN, "2274210 refill")
    owner = await clients(OWNER)
    page = (await owner.get("/w/acme/panel-tickets")).text
    assert sorted(re.findall(r'aria-label="Ticket (\d+)"', page)) == ["501", "502", "504"]
    assert "Replied" in page
    page = (await owner.get("/w/acme/panel-calls", params={"ok": "error"})).text
    assert "server error" in page and "HTTP 500" in page
    page = (await owner.get("/w/acme/commands", params={"order_id": "2274210"})).text
    assert "Panel API problem" in page


@pytest.mark.parametrize("kind", ["perfectpanel", "rental"])
async def test_no_page_or_answer_contains_the_panel_keys(
    ctx: Context, tenants: Tenants, clients: ClientFactory, client: httpx.AsyncClient,
    kind: str,
) -> None:
    async for shop in make_shop(ctx, kind=kind, extra_rules="  tickets: {enabled: true}\n"):
        await shop.say(JOHN, "2274209 refill")
        for fault in (shop.panel.fail_next, shop.panel.html_next, shop.panel.malformed_next):
            fault()
            await shop.say(JOHN, "2274209, 2274210 status")
        await shop.say(JOHN, "balance")
        await process_tickets(ctx, shop.workspace_id)
        keys = [k for k in (shop.panel.admin_key, shop.panel.user_key) if k]
        owner = await clients(OWNER)
        auth = Tenants.auth(tenants.owner)
        calls = (await client.get(f"{API}/panel-calls", headers=auth)).json()
        assert sum(not c["ok"] for c in calls) >= 3 and len(calls) >= 5
        pages = ["/w/acme/commands", "/w/acme/dispatches", "/w/acme/cooldowns",
                 "/w/acme/panel-tickets", "/w/acme/panel-calls"]
        pages += [f"/w/acme/panel-calls/{c['id']}" for c in calls]
        commands = (await client.get(f"{API}/commands", headers=auth)).json()
        pages += [f"/w/acme/commands/{c['id']}" for c in commands]
        answers = [f"{API}/{p}" for p in ("commands", "dispatches", "cooldowns",
                                          "panel-tickets", "panel-calls")]
        answers += [f"{API}/commands/{c['id']}" for c in commands]
        answers += [f"{API}/panel-calls/{c['id']}" for c in calls]
        for path in pages:
            r = await owner.get(path)
            assert r.status_code == 200, path
            assert not any(k in r.text for k in keys), path
        for path in answers:
            r = await client.get(path, headers=auth)
            assert r.status_code == 200, path
            assert not any(k in r.text for k in keys), path


async def test_a_key_that_slipped_into_an_error_is_masked(
    live: Shop, clients: ClientFactory, client: httpx.AsyncClient, tenants: Tenants,
) -> None:
    """Adapters scrub keys from their errors; should one ever slip through in a key=… or
    header form, the logs still show it masked."""
    from tests.console.orderlogdata import add_call

    key = live.panel.admin_key
    call = await add_call(live.ctx, live.workspace_id, ok=False, reason="network",
                          error=f"GET https://panel.test/adminapi/v1?key={key}&action=x "
                                f"failed; X-Api-Key: {key}",
                          detail=f"token={key}")
    owner = await clients(OWNER)
    for path in ("/w/acme/panel-calls", f"/w/acme/panel-calls/{call}"):
        page = (await owner.get(path)).text
        assert key not in page and "key=***" in page
    for path in (f"{API}/panel-calls", f"{API}/panel-calls/{call}"):
        r = await client.get(path, headers=Tenants.auth(tenants.owner))
        assert key not in r.text and "X-Api-Key: ***" in r.text

"""The cooldowns page: active and past cooldowns, every filter, paging, and the owner's "Clear"
button (the same code as ``DELETE .../orders/cooldowns/{id}``); agents only read."""

from __future__ import annotations

import re
from typing import Any

import httpx
from sqlalchemy import select

from panelpilot.context import Context
from panelpilot.orders.models import OrderCooldown
from tests.console.conftest import ClientFactory
from tests.console.helpers import AGENT, OWNER, field_errors, flashes, post
from tests.console.logdata import add_channel, add_chat
from tests.console.orderlogdata import add_command, add_cooldown, ago
from tests.support import Tenants

URL = "/w/acme/cooldowns"
API = "/api/v1/workspaces/acme/orders"


def orders(page: str) -> list[str]:
    return re.findall(r'<td data-label="Order"><a [^>]*><code>(\d+)</code>', page)


async def _seed(ctx: Context, ws: int) -> dict[str, Any]:
    tg = await add_channel(ctx, ws)
    await add_chat(ctx, ws, tg, "5512345", title="Jane Buyer", role="customer")
    cmd = await add_command(ctx, ws, channel_id=tg, username="jane_smith")
    return {
        "cmd": cmd,
        "active": await add_cooldown(ctx, ws, order_id="2274209", minutes=600, hits=3,
                                     command_id=cmd, requested_by="jane_smith",
                                     created_at=ago(hours=1)),
        "speed": await add_cooldown(ctx, ws, order_id="2274300", action="speed", minutes=30,
                                    requested_by="support", created_at=ago(minutes=30)),
        "past": await add_cooldown(ctx, ws, order_id="2274100", minutes=-60,
                                   requested_by="john_doe", created_at=ago(days=1)),
    }


async def test_empty_page(ctx: Context, clients: ClientFactory, tenants: Tenants) -> None:
    page = (await (await clients(OWNER)).get(URL)).text
    assert "No cooldown yet" in page
    page = (await (await clients(OWNER)).get(URL, params={"state": "active"})).text
    assert "No cooldown is running" in page


async def test_list_and_every_filter(ctx: Context, clients: ClientFactory,
                                     tenants: Tenants) -> None:
    ids = await _seed(ctx, tenants.acme_id)
    agent = await clients(AGENT)

    async def listed(**params: str) -> list[str]:
        r = await agent.get(URL, params=params)
        assert r.status_code == 200 and field_errors(r.text) == {}, field_errors(r.text)
        return orders(r.text)

    page = (await agent.get(URL)).text
    assert orders(page) == ["2274100", "2274300", "2274209"]
    assert "2 cooldowns are running now." in page
    assert "jane_smith" in page and "Jane Buyer" in page  # who, and the chat it came from
    assert f'href="/w/acme/commands/{ids["cmd"]}"' in page
    assert "ended" in page and "active" in page
    assert await listed(state="active") == ["2274300", "2274209"]
    assert await listed(state="past") == ["2274100"]
    assert await listed(order_id="2274209") == ["2274209"]
    assert await listed(action="speed") == ["2274300"]
    assert await listed(who="JANE_SMITH") == ["2274209"]
    assert await listed(who="5512345") == ["2274209"]  # the chat id
    assert await listed(who="support") == ["2274300"]
    assert await listed(since=ago(hours=2).strftime("%Y-%m-%dT%H:%M"),
                        until=ago(minutes=45).strftime("%Y-%m-%dT%H:%M")) == ["2274209"]
    r = await agent.get(URL, params={"state": "frozen"})
    assert field_errors(r.text) == {"state": "Choose a state from the list."}
    # agents see no Clear button
    assert "/clear" not in page


async def test_paging(ctx: Context, clients: ClientFactory, tenants: Tenants) -> None:
    for n in range(51):
        await add_cooldown(ctx, tenants.acme_id, order_id=str(2274300 + n))
    owner = await clients(OWNER)
    first = await owner.get(URL, params={"state": "active"})
    assert orders(first.text) == [str(2274300 + n) for n in range(50, 0, -1)]
    link = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert link is not None and "state=active" in link.group(1)
    second = await owner.get(link.group(1).replace("&amp;", "&"))
    assert orders(second.text) == ["2274300"]


async def test_owner_clears_a_cooldown(ctx: Context, clients: ClientFactory,
                                       tenants: Tenants) -> None:
    ids = await _seed(ctx, tenants.acme_id)
    owner = await clients(OWNER)
    page = (await owner.get(URL, params={"order_id": "2274209"})).text
    # the button asks first, and brings the owner back to the filtered list
    assert f'action="/w/acme/cooldowns/{ids["active"]}/clear"' in page
    assert 'data-confirm="Clear the refill cooldown of order 2274209?' in page
    assert f'action="/w/acme/cooldowns/{ids["past"]}/clear"' not in page  # ended already
    r = await post(owner, f"{URL}/{ids['active']}/clear",
                   {"back": "/w/acme/cooldowns?order_id=2274209"})
    assert r.status_code == 303 and r.headers["location"] == "/w/acme/cooldowns?order_id=2274209"
    page = (await owner.get(r.headers["location"])).text
    assert flashes(page) == [("success", "The refill cooldown of order 2274209 is cleared: "
                                         "the customer can ask again now.")]
    assert orders(page) == []
    async with ctx.db.session(tenants.acme_id) as s:
        left = sorted(c.order_id for c in (await s.execute(select(OrderCooldown))).scalars())
    assert left == ["2274100", "2274300"]
    # twice, or somebody else's: not found; a foreign "back" address is not followed
    assert (await post(owner, f"{URL}/{ids['active']}/clear")).status_code == 404
    r = await post(owner, f"{URL}/{ids['speed']}/clear", {"back": "https://evil.example/"})
    assert r.headers["location"] == "/w/acme/cooldowns"


async def test_agent_cannot_clear(ctx: Context, clients: ClientFactory,
                                  tenants: Tenants) -> None:
    ids = await _seed(ctx, tenants.acme_id)
    agent = await clients(AGENT)
    r = await post(agent, f"{URL}/{ids['active']}/clear")
    assert r.status_code == 403
    async with ctx.db.session(tenants.acme_id) as s:
        assert len((await s.execute(select(OrderCooldown))).scalars().all()) == 3


async def test_api_filters_match_the_page(ctx: Context, client: httpx.AsyncClient,
                                          tenants: Tenants) -> None:
    ids = await _seed(ctx, tenants.acme_id)
    auth = Tenants.auth(tenants.agent)

    async def listed(**params: Any) -> list[Any]:
        r = await client.get(f"{API}/cooldowns", params=params, headers=auth)
        assert r.status_code == 200, r.text
        return r.json()

    [one] = await listed(requested_by="5512345")
    assert (one["id"], one["chat_id"], one["username"], one["hits"], one["active"]) == (
        ids["active"], "5512345", "jane_smith", 3, True)
    assert [c["order_id"] for c in await listed(active=False)] == ["2274100"]
    assert [c["order_id"] for c in await listed(since=ago(hours=2).isoformat(),
                                                until=ago(minutes=45).isoformat())] == [
        "2274209"]

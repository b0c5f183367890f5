"""The panel-tickets page: the ticket runner's log with every filter, paging, the detail view,
and the API's matching filters."""

from __future__ import annotations

import re
from typing import Any

import httpx

from panelpilot.context import Context
from tests.console.conftest import ClientFactory
from tests.console.helpers import AGENT, OWNER, field_errors
from tests.console.orderlogdata import add_command, add_ticket, ago
from tests.support import Tenants

URL = "/w/acme/panel-tickets"
API = "/api/v1/workspaces/acme/orders"


def shown(page: str) -> list[str]:
    return re.findall(r'aria-label="Ticket ([^"]+)"', page)


async def _seed(ctx: Context, ws: int) -> dict[str, Any]:
    cmd = await add_command(ctx, ws, chat_id=None, source="ticket", ticket_id="501",
                            text="Request: Refill\n2274209", outcome="mixed",
                            orders=(("2274209", "sent"), ("2274210", "not_yours")))
    return {
        "cmd": cmd,
        "501": await add_ticket(ctx, ws, ticket_id="501", command_id=cmd,
                                order_ids=("2274209", "2274210"), created_at=ago(hours=3)),
        "502": await add_ticket(ctx, ws, ticket_id="502", username="jane_smith",
                                status="reply_failed", action="speed",
                                order_ids=("5163781",), attempts=2,
                                error="server_error: HTTP 500 at /adminapi/v2?key=abcd12345678",
                                created_at=ago(hours=2)),
        "503": await add_ticket(ctx, ws, ticket_id="503", status="decided", action="cancel",
                                order_ids=("2274300",), reply="", created_at=ago(hours=1)),
    }


async def test_empty_page_says_how_to_turn_it_on(ctx: Context, clients: ClientFactory,
                                                 tenants: Tenants) -> None:
    page = (await (await clients(OWNER)).get(URL)).text
    assert "Ticket rules are off" in page


async def test_list_and_every_filter(ctx: Context, clients: ClientFactory,
                                     tenants: Tenants) -> None:
    await _seed(ctx, tenants.acme_id)
    agent = await clients(AGENT)

    async def listed(**params: str) -> list[str]:
        r = await agent.get(URL, params=params)
        assert r.status_code == 200 and field_errors(r.text) == {}, field_errors(r.text)
        return shown(r.text)

    page = (await agent.get(URL)).text
    assert shown(page) == ["503", "502", "501"]
    assert "Reply failed" in page and "Decided, reply pending" in page and "Replied" in page
    assert "✅ 2274209: refill request sent." in page
    assert await listed(status="reply_failed") == ["502"]
    assert await listed(username="JANE_SMITH") == ["502"]
    assert await listed(ticket_id="501") == ["501"]
    assert await listed(order_id="2274210") == ["501"]
    assert await listed(order_id="227421") == []  # a whole id only
    assert await listed(action="cancel") == ["503"]
    assert await listed(since=ago(hours=2, minutes=30).strftime("%Y-%m-%dT%H:%M"),
                        until=ago(minutes=90).strftime("%Y-%m-%dT%H:%M")) == ["502"]
    r = await agent.get(URL, params={"status": "lost"})
    assert field_errors(r.text) == {"status": "Choose an outcome from the list."}
    assert "No ticket matches these filters" in (await agent.get(
        URL, params={"ticket_id": "999"})).text


async def test_paging(ctx: Context, clients: ClientFactory, tenants: Tenants) -> None:
    for n in range(51):
        await add_ticket(ctx, tenants.acme_id, ticket_id=str(600 + n))
    owner = await clients(OWNER)
    first = await owner.get(URL, params={"status": "replied"})
    assert shown(first.text) == [str(600 + n) for n in range(50, 0, -1)]
    link = re.search(r'href="([^"]+)" rel="next"', first.text)
    assert link is not None and "status=replied" in link.group(1)
    assert shown((await owner.get(link.group(1).replace("&amp;", "&"))).text) == ["600"]


async def test_detail(ctx: Context, clients: ClientFactory, tenants: Tenants) -> None:
    ids = await _seed(ctx, tenants.acme_id)
    owner = await clients(OWNER)
    page = (await owner.get(f"{URL}/{ids['501']}")).text
    assert "Panel ticket 501" in page and "Request: Refill" in page
    assert f'href="/w/acme/commands/{ids["cmd"]}"' in page
    assert "Not the customer&#39;s order" in page and "not_yours reason" in page
    page = (await owner.get(f"{URL}/{ids['502']}")).text
    assert "The reply could not be posted on the panel" in page
    assert "abcd12345678" not in page and "key=***" in page
    assert (await owner.get(f"{URL}/999999")).status_code == 404
    theirs = await add_ticket(ctx, tenants.other_id, ticket_id="501")
    assert (await owner.get(f"{URL}/{theirs}")).status_code == 404


async def test_api_filters_match_the_page(ctx: Context, client: httpx.AsyncClient,
                                          tenants: Tenants) -> None:
    ids = await _seed(ctx, tenants.acme_id)
    auth = Tenants.auth(tenants.agent)

    async def listed(**params: Any) -> list[Any]:
        r = await client.get(f"{API}/panel-tickets", params=params, headers=auth)
        assert r.status_code == 200, r.text
        return r.json()

    assert [t["ticket_id"] for t in await listed(order_id="2274210")] == ["501"]
    assert [t["ticket_id"] for t in await listed(action="speed")] == ["502"]
    [failed] = await listed(status="reply_failed")
    assert "abcd12345678" not in failed["error"]
    r = await client.get(f"{API}/panel-tickets/{ids['502']}", headers=auth)
    assert "abcd12345678" not in r.text
